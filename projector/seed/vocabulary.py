"""Names, words and config shapes the seeded history draws from."""

from __future__ import annotations

# (display name, ASCII form for e-mail addresses)
FIRST_NAMES = (
    ("Ada", "ada"),
    ("Grace", "grace"),
    ("Linus", "linus"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Renée", "renee"),
    ("Mei", "mei"),
    ("Arjun", "arjun"),
    ("Chloé", "chloe"),
    ("Kwame", "kwame"),
    ("Ingrid", "ingrid"),
    ("王芳", "wang.fang"),
    ("Sofia", "sofia"),
    ("Hiro", "hiro"),
    ("Noémie", "noemie"),
    ("Omar", "omar"),
)
LAST_NAMES = (
    ("Lovelace", "lovelace"),
    ("Hopper", "hopper"),
    ("Okafor", "okafor"),
    ("Müller", "mueller"),
    ("García", "garcia"),
    ("Tanaka", "tanaka"),
    ("Ivanova", "ivanova"),
    ("Nguyen", "nguyen"),
    ("Silva", "silva"),
    ("Kowalski", "kowalski"),
    ("Haddad", "haddad"),
    ("Brontë", "bronte"),
)
EMAIL_DOMAINS = ("example.com", "example.org", "corp.example", "mail.example.net")

COMPANIES = (
    "Northwind",
    "Acme",
    "Globex",
    "Initech",
    "Umbrella Labs",
    "Stark Industries",
    "Wayne Analytics",
    "Café Lumière",
    "Tyrell",
    "Soylent",
    "Hooli",
    "Pied Piper",
)
TEAMS = ("Research", "Support", "Growth", "Platform", "Legal", "Finance", "Ops", "Design", "数据平台")

TAGS = (
    "support",
    "internal",
    "marketing",
    "sales",
    "beta",
    "finance",
    "hr",
    "production",
    "experimental",
    "客服",
)

ADJECTIVES = (
    "Customer",
    "Internal",
    "Smart",
    "Quick",
    "Legal",
    "Sales",
    "Onboarding",
    "Multilingual",
    "Café",
    "Nightly",
    "Übersicht",
    "Secure",
)
# What an app of each mode tends to be called.
MODE_NOUNS = {
    "chat": ("Assistant", "Helpdesk Bot", "FAQ Chat", "Concierge"),
    "completion": ("Summarizer", "Translator", "Email Writer", "Tagline Generator"),
    "workflow": ("Report Pipeline", "Invoice Extractor", "Lead Scorer", "Digest Builder"),
    "advanced-chat": ("Copilot", "Support Flow", "Triage Chat", "Policy Advisor"),
    "agent-chat": ("Research Agent", "Data Analyst", "Travel Planner", "Code Reviewer"),
    "agent": ("Ops Agent", "Scheduler", "Procurement Agent", "Inbox Agent"),
    "channel": ("Slack Channel", "Web Widget", "Teams Channel", "Discord Bridge"),
    "rag-pipeline": ("Knowledge Pipeline", "Docs Ingest", "Wiki Indexer", "Contract Loader"),
}
DESCRIPTIONS = (
    "Answers questions about our products using the help centre.",
    "Drafts replies for the support queue; a human always reviews.",
    "Summarises long documents into five bullet points.",
    "Pulls totals and due dates out of supplier invoices.",
    "Experimental: do not use for customer-facing work yet.",
    "Résumé screening helper for the hiring team.",
    "",
)
DEVICE_LABELS = ("MacBook Pro", "ThinkPad X1", "ci-runner-3", "build-box", "Surface Laptop", None)
SSO_ISSUERS = ("https://sso.partner.example", "https://login.contractors.example")

# One entry of each `user_input_form` type, in Dify's `{<type>: {...}}` form.
FORM_FIELDS: tuple[tuple[str, dict[str, object]], ...] = (
    (
        "text-input",
        {"label": "Customer name", "variable": "customer_name", "required": True, "max_length": 48},
    ),
    (
        "paragraph",
        {"label": "What happened?", "variable": "details", "required": False, "max_length": 2000},
    ),
    (
        "select",
        {
            "label": "Tone",
            "variable": "tone",
            "required": True,
            "options": ["Friendly", "Formal", "Concise"],
        },
    ),
    ("number", {"label": "Maximum words", "variable": "max_words", "required": False}),
    (
        "file",
        {
            "label": "Attachment",
            "variable": "attachment",
            "required": False,
            "allowed_file_types": ["document"],
            "allowed_file_extensions": [".pdf", ".docx"],
            "allowed_file_upload_methods": ["local_file", "remote_url"],
        },
    ),
    (
        "file-list",
        {
            "label": "Screenshots",
            "variable": "screenshots",
            "required": False,
            "max_length": 5,
            "allowed_file_types": ["image"],
            "allowed_file_extensions": [],
            "allowed_file_upload_methods": ["local_file"],
        },
    ),
)
SUGGESTED_QUESTIONS = (
    "How do I reset my password?",
    "What are your opening hours?",
    "Can I get an invoice for last month?",
    "¿Hablas español?",
)
