"""The app routes: the list (filters, order, pages), the summary, parameters and describe."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.unit.api_events import Api, ApiContract, assert_error, assert_headers, assert_invalid, at, new_id

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DISABLED = {"enabled": False}
DEFAULT_FILE_UPLOAD = {
    "image": {
        "enabled": False,
        "number_limits": 3,
        "detail": "high",
        "transfer_methods": ["remote_url", "local_file"],
    },
}
DEFAULT_SYSTEM_PARAMETERS = {
    "image_file_size_limit": 10,
    "video_file_size_limit": 100,
    "audio_file_size_limit": 50,
    "file_size_limit": 15,
    "workflow_file_upload_limit": 10,
}
FORM = [
    {"text-input": {"variable": "name", "label": "Name", "required": True, "max_length": 48}},
    {"paragraph": {"variable": "bio", "label": "Bio", "required": False}},
    {"select": {"variable": "color", "label": "Color", "required": True, "options": ["red", "blue"]}},
    {"number": {"variable": "age", "label": "Age", "required": False}},
    {"file": {"variable": "photo", "label": "Photo", "required": False}},
    {"file-list": {"variable": "docs", "label": "Docs", "required": True}},
]


def ids(result: Any) -> list[str]:
    assert result.status_code == 200, result.text
    return [row["id"] for row in result.json["data"]]


class AppListContract(ApiContract):
    @pytest.fixture
    def ws(self, api: Api) -> str:
        return api.workspace("Alpha")

    @pytest.fixture
    def owner(self, api: Api, ws: str) -> tuple[str, str]:
        return api.member(ws, "Ada", "owner")

    @pytest.fixture
    def catalogue(self, api: Api, ws: str, owner: tuple[str, str]) -> dict[str, str]:
        account = owner[0]
        made = {}
        for key, name, mode, tags, second, extra in [
            ("bot", "Café Bot", "chat", ["prod"], 1, {}),
            ("flow", "Cafe Flow", "workflow", ["prod", "beta"], 2, {}),
            ("support", "Support", "chat", ["beta"], 3, {}),
            ("notes", "café Notes", "completion", [], 4, {}),
            ("hidden", "Café Hidden", "chat", ["prod"], 5, {"status": "archived"}),
            ("universal", "Café Universal", "chat", ["prod"], 6, {"is_universal": True}),
        ]:
            made[key] = api.app(ws, account, name=name, mode=mode, tags=tags, created_at=at(second), **extra)
        return made

    def list(self, api: Api, owner: tuple[str, str], ws: str, **params: Any) -> Any:
        return api.get("/apps", owner[1], workspace_id=ws, **params)

    def test_a_row_has_exactly_the_contract_fields(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(
            ws, owner[0], name="Café", description="d", mode="agent-chat", tags=["a", "b"], updated_at=at(0.5)
        )
        result = self.list(api, owner, ws)
        assert_headers(result)
        assert result.json == {
            "page": 1,
            "limit": 20,
            "total": 1,
            "has_more": False,
            "data": [
                {
                    "id": app,
                    "name": "Café",
                    "description": "d",
                    "mode": "agent-chat",
                    "tags": [{"name": "a"}, {"name": "b"}],
                    "updated_at": "2026-04-27T10:00:00.500000",
                    "created_by_name": "Ada",
                    "workspace_id": ws,
                    "workspace_name": "Alpha",
                },
            ],
        }

    def test_updated_at_has_no_fraction_when_whole(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        api.app(ws, owner[0], updated_at="2026-04-27T12:00:00+02:00")
        assert self.list(api, owner, ws).json["data"][0]["updated_at"] == "2026-04-27T10:00:00"

    def test_renames_show_up_in_rows(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        api.app(ws, owner[0])
        api.project(
            api.history.account_updated(owner[0], name="Ada L."), api.history.workspace_renamed(ws, "Ω")
        )
        row = self.list(api, owner, ws).json["data"][0]
        assert (row["created_by_name"], row["workspace_name"]) == ("Ada L.", "Ω")

    def test_only_normal_non_universal_apps_are_listed(
        self, api: Api, ws: str, owner: tuple[str, str], catalogue: dict[str, str]
    ) -> None:
        listed = ids(self.list(api, owner, ws))
        assert listed == [catalogue[k] for k in ("notes", "support", "flow", "bot")]

    def test_an_app_leaves_the_list_when_hidden_or_deleted(
        self, api: Api, ws: str, owner: tuple[str, str], catalogue: dict[str, str]
    ) -> None:
        api.project(api.history.app_updated(catalogue["bot"], ws, status="archived"))
        api.project(api.history.app_deleted(catalogue["notes"], ws))
        api.project(api.history.app_updated(catalogue["hidden"], ws, status="normal"))
        listed = ids(self.list(api, owner, ws))
        assert listed == [catalogue[k] for k in ("hidden", "support", "flow")]

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"mode": "chat"}, ["support", "bot"]),
            ({"mode": "workflow"}, ["flow"]),
            ({"mode": "agent"}, []),
            ({"mode": "channel"}, ["notes", "support", "flow", "bot"]),  # Dify filters nothing for it
            ({"name": "CAFÉ"}, ["notes", "bot"]),
            ({"name": "afé"}, ["notes", "bot"]),
            ({"name": "cafe"}, ["flow"]),
            ({"name": "FLOW"}, ["flow"]),
            ({"name": "nothing"}, []),
            ({"tag": "prod"}, ["flow", "bot"]),
            ({"tag": "Prod"}, []),
            ({"tag": "beta"}, ["support", "flow"]),
            ({"tag": "no-such-tag"}, []),
            ({"mode": "chat", "tag": "prod"}, ["bot"]),
            ({"mode": "chat", "name": "café"}, ["bot"]),
            ({"tag": "beta", "name": "SUP"}, ["support"]),
            ({"mode": "workflow", "tag": "beta", "name": "flow"}, ["flow"]),
            ({"mode": "chat", "tag": "beta", "name": "café"}, []),
            ({"tag": "", "name": ""}, ["notes", "support", "flow", "bot"]),
            ({"name": "%"}, []),  # no wildcards: Dify escapes LIKE's special characters
            ({"name": "_"}, []),
        ],
    )
    def test_filters_and_their_combinations(
        self,
        api: Api,
        ws: str,
        owner: tuple[str, str],
        catalogue: dict[str, str],
        params: dict[str, str],
        expected: list[str],
    ) -> None:
        result = self.list(api, owner, ws, **params)
        assert ids(result) == [catalogue[k] for k in expected]
        assert result.json["total"] == len(expected)

    def test_filtered_lists_page_too(
        self, api: Api, ws: str, owner: tuple[str, str], catalogue: dict[str, str]
    ) -> None:
        first = self.list(api, owner, ws, name="caf", limit=1).json
        second = self.list(api, owner, ws, name="caf", limit=1, page=2).json
        third = self.list(api, owner, ws, name="caf", limit=1, page=3).json
        four = self.list(api, owner, ws, name="caf", limit=1, page=4).json
        assert [first["total"], second["total"], third["total"], four["total"]] == [3, 3, 3, 3]
        pages = [page["data"][0]["id"] for page in (first, second, third)]
        assert pages == [catalogue[k] for k in ("notes", "flow", "bot")]
        assert (first["has_more"], second["has_more"], third["has_more"]) == (True, True, False)
        assert four["data"] == []

    def test_a_name_of_200_characters_is_fine_and_201_is_not(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        assert self.list(api, owner, ws, name="x" * 200).status_code == 200
        assert_invalid(self.list(api, owner, ws, name="x" * 201), "name")
        assert_invalid(self.list(api, owner, ws, tag="t" * 101), "tag")

    def test_only_the_first_30_characters_of_a_name_filter(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        app = api.app(ws, owner[0], name="A" * 30 + "-tail")
        assert ids(self.list(api, owner, ws, name="a" * 30 + "-something-else")) == [app]

    @pytest.mark.parametrize("mode", ["", "bogus", "Chat"])
    def test_an_unknown_or_empty_mode_is_invalid(
        self, api: Api, ws: str, owner: tuple[str, str], mode: str
    ) -> None:
        assert_invalid(self.list(api, owner, ws, mode=mode), "mode")

    def test_the_rag_pipeline_mode_is_refused_as_dify_refuses_it(
        self, api: Api, ws: str, owner: tuple[str, str], catalogue: dict[str, str]
    ) -> None:
        result = self.list(api, owner, ws, mode="rag-pipeline")
        assert result.status_code == 400
        assert result.json["code"] == "bad_request"
        assert result.json["message"].startswith("1 validation error for AppListParams\nmode\n")
        # ...except where Dify answers before it gets there: an unknown tag, an app id as name.
        assert self.list(api, owner, ws, mode="rag-pipeline", tag="nope").json["total"] == 0
        assert ids(self.list(api, owner, ws, mode="rag-pipeline", name=catalogue["bot"])) == [
            catalogue["bot"]
        ]

    def test_an_app_id_as_name_finds_that_app_alone(
        self, api: Api, ws: str, owner: tuple[str, str], catalogue: dict[str, str]
    ) -> None:
        bot = catalogue["bot"]
        for name in (bot, bot.upper(), "{" + bot + "}", bot.replace("-", "")):
            body = self.list(api, owner, ws, name=name, mode="workflow", tag="beta", page=3, limit=7).json
            assert body == {**body, "page": 1, "limit": 1, "total": 1, "has_more": False}
            assert ids(self.list(api, owner, ws, name=name)) == [bot]
        # The universal app is found that way too (Dify checks only status and service API).
        assert ids(self.list(api, owner, ws, name=catalogue["universal"])) == [catalogue["universal"]]
        for name in (catalogue["hidden"], new_id()):
            body = self.list(api, owner, ws, name=name, page=2, limit=5).json
            assert body == {"page": 2, "limit": 5, "total": 0, "has_more": False, "data": []}

    def test_an_app_of_another_workspace_is_not_found_by_its_id(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        other = api.workspace("Beta")
        api.join(other, owner[0], "normal")
        theirs = api.app(other, owner[0])
        assert self.list(api, owner, ws, name=theirs).json["total"] == 0

    def test_order_is_newest_first_then_id_descending_across_pages(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        seconds = [1, 2, 3, 3, 3, 4, 4, 0, 3, 5, 2]
        made = [(second, api.app(ws, owner[0], created_at=at(second))) for second in seconds]
        expected = [app for _, app in sorted(made, key=lambda item: (item[0], item[1]), reverse=True)]
        seen: list[str] = []
        for page in range(1, 6):
            body = self.list(api, owner, ws, page=page, limit=3).json
            assert (body["page"], body["limit"], body["total"]) == (page, 3, len(seconds))
            assert body["has_more"] == (page * 3 < len(seconds))
            seen += [row["id"] for row in body["data"]]
        assert seen == expected

    def test_limit_up_to_200_is_served_and_echoed(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        for _ in range(3):
            api.app(ws, owner[0])
        body = self.list(api, owner, ws, limit=150).json
        assert (body["limit"], body["total"], len(body["data"]), body["has_more"]) == (150, 3, 3, False)
        assert self.list(api, owner, ws, limit=200).json["limit"] == 200
        assert_invalid(self.list(api, owner, ws, limit=201), "limit")

    def test_an_app_with_its_service_api_off_is_not_listed(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        shown = api.app(ws, owner[0], created_at=at(1))
        hidden = api.app(ws, owner[0], enable_api=False, created_at=at(2), tags=["t"])
        assert ids(self.list(api, owner, ws)) == [shown]
        assert self.list(api, owner, ws, tag="t").json["total"] == 0
        api.project(api.history.app_updated(hidden, ws, enable_api=True))
        assert ids(self.list(api, owner, ws)) == [hidden, shown]
        api.project(api.history.app_updated(shown, ws, enable_api=False))
        assert ids(self.list(api, owner, ws)) == [hidden]

    def test_a_page_past_the_end_is_empty(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        api.app(ws, owner[0])
        for page in (2, 10**12):
            body = self.list(api, owner, ws, page=page).json
            assert body == {"page": page, "limit": 20, "total": 1, "has_more": False, "data": []}

    def test_an_empty_workspace_lists_nothing(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        assert self.list(api, owner, ws).json == {
            "page": 1,
            "limit": 20,
            "total": 0,
            "has_more": False,
            "data": [],
        }

    def test_a_workspace_lists_only_its_own_apps(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        other = api.workspace("Beta")
        api.join(other, owner[0], "normal")
        mine = api.app(ws, owner[0])
        theirs = api.app(other, owner[0])
        assert ids(self.list(api, owner, ws)) == [mine]
        assert ids(self.list(api, owner, other)) == [theirs]


class AppContract(ApiContract):
    @pytest.fixture
    def ws(self, api: Api) -> str:
        return api.workspace("Alpha")

    @pytest.fixture
    def owner(self, api: Api, ws: str) -> tuple[str, str]:
        return api.member(ws, "Ada", "owner")

    def test_the_summary(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0], name="Planner", description="helps", mode="completion", tags=["x"])
        result = api.get(f"/apps/{app}", owner[1])
        assert_headers(result)
        assert result.json == {
            "id": app,
            "name": "Planner",
            "description": "helps",
            "mode": "completion",
            "author": "Ada",
            "tags": [{"name": "x"}],
        }

    def test_the_author_follows_a_rename(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0])
        api.project(api.history.account_updated(owner[0], name="Countess"))
        assert api.get(f"/apps/{app}", owner[1]).json["author"] == "Countess"
        assert api.get(f"/apps/{app}/describe", owner[1]).json["info"]["author"] == "Countess"

    def test_an_uppercase_id_finds_the_app(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0])
        assert api.get(f"/apps/{app.upper()}", owner[1]).json["id"] == app

    @pytest.mark.parametrize("suffix", ["", "/parameters", "/describe"])
    def test_unknown_malformed_deleted_and_hidden_apps_are_not_found(
        self, api: Api, ws: str, owner: tuple[str, str], suffix: str
    ) -> None:
        deleted = api.app(ws, owner[0])
        api.project(api.history.model_config_published(deleted, ws), api.history.app_deleted(deleted, ws))
        hidden = api.app(ws, owner[0], status="archived")
        later_hidden = api.app(ws, owner[0])
        api.project(api.history.app_updated(later_hidden, ws, status="disabled"))
        for app in (new_id(), "not-a-uuid", "%00", "x" * 300, deleted, hidden, later_hidden):
            assert_error(api.get(f"/apps/{app}{suffix}", owner[1]), 404, "not_found", "app not found")

    def test_a_universal_app_answers_its_own_routes(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0], is_universal=True)
        assert api.get(f"/apps/{app}", owner[1]).status_code == 200
        assert api.get(f"/apps/{app}/describe", owner[1]).status_code == 200

    def test_the_app_workspace_decides_membership(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        other = api.workspace("Beta")
        _, outsider = api.member(other, "Eve")
        app = api.app(ws, owner[0])
        assert_error(api.get(f"/apps/{app}", outsider), 404, "not_found", "workspace not found")

    @pytest.mark.parametrize("spelling", [str.upper, lambda a: "{" + a + "}", lambda a: a.replace("-", "")])
    def test_app_id_spellings_python_reads_as_the_uuid(
        self, api: Api, ws: str, owner: tuple[str, str], spelling: Any
    ) -> None:
        app = api.app(ws, owner[0])
        assert api.get(f"/apps/{spelling(app)}/describe", owner[1]).json["info"]["id"] == app

    # --- parameters ------------------------------------------------------------------------

    def test_every_default_of_a_bare_model_config(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0], mode="chat")
        api.project(api.history.model_config_published(app, ws))
        result = api.get(f"/apps/{app}/parameters", owner[1])
        assert_headers(result)
        assert result.json == {
            "opening_statement": None,
            "suggested_questions": [],
            "suggested_questions_after_answer": DISABLED,
            "speech_to_text": DISABLED,
            "text_to_speech": DISABLED,
            "retriever_resource": {"enabled": True},
            "annotation_reply": DISABLED,
            "more_like_this": DISABLED,
            "user_input_form": [],
            # A model config's own default (Dify's parameters mapping would say "configs": []).
            "sensitive_word_avoidance": {"enabled": False, "type": "", "config": {}},
            "file_upload": DEFAULT_FILE_UPLOAD,
            "system_parameters": DEFAULT_SYSTEM_PARAMETERS,
        }

    def test_null_config_values_take_the_defaults(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0], mode="completion")
        api.project(
            api.history.model_config_published(
                app, ws, opening_statement=None, more_like_this=None, file_upload=None, user_input_form=None
            )
        )
        body = api.get(f"/apps/{app}/parameters", owner[1]).json
        assert (body["opening_statement"], body["more_like_this"]) == (None, DISABLED)
        assert (body["file_upload"], body["user_input_form"]) == (DEFAULT_FILE_UPLOAD, [])

    def test_a_model_config_is_served_as_published(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0], mode="agent-chat")
        config = {
            "opening_statement": "Hello",
            "suggested_questions": ["a?", "b?"],
            "suggested_questions_after_answer": {"enabled": True},
            "speech_to_text": {"enabled": True},
            "text_to_speech": {"enabled": True, "voice": "v"},
            "retriever_resource": {"enabled": False},
            "annotation_reply": {"enabled": True},
            "more_like_this": {"enabled": True},
            "sensitive_word_avoidance": {"enabled": True, "type": "keywords", "configs": []},
            "file_upload": {"image": {"enabled": True}},
            "user_input_form": FORM,
        }
        api.project(api.history.model_config_published(app, ws, **config))
        body = api.get(f"/apps/{app}/parameters", owner[1]).json
        assert body == {**config, "system_parameters": DEFAULT_SYSTEM_PARAMETERS}

    def test_system_parameters_come_from_settings(self, redis_client: Any) -> None:
        api = Api(
            redis_client,
            env={
                "UPLOAD_IMAGE_FILE_SIZE_LIMIT": "1",
                "UPLOAD_VIDEO_FILE_SIZE_LIMIT": "2",
                "UPLOAD_AUDIO_FILE_SIZE_LIMIT": "3",
                "UPLOAD_FILE_SIZE_LIMIT": "4",
                "WORKFLOW_FILE_UPLOAD_LIMIT": "5",
            },
        )
        ws = api.workspace()
        account, token = api.member(ws)
        app = api.app(ws, account)
        api.project(api.history.model_config_published(app, ws))
        assert api.get(f"/apps/{app}/parameters", token).json["system_parameters"] == {
            "image_file_size_limit": 1,
            "video_file_size_limit": 2,
            "audio_file_size_limit": 3,
            "file_size_limit": 4,
            "workflow_file_upload_limit": 5,
        }

    @pytest.mark.parametrize("mode", ["workflow", "advanced-chat"])
    def test_workflow_apps_take_the_published_workflow(
        self, api: Api, ws: str, owner: tuple[str, str], mode: str
    ) -> None:
        app = api.app(ws, owner[0], mode=mode)
        flat_upload = {"enabled": True, "allowed_file_types": ["image"], "number_limits": 2}
        variables = [
            {"variable": "topic", "label": "Topic", "type": "text-input", "required": True, "max_length": 10},
            {
                "variable": "level",
                "label": "Level",
                "type": "select",
                "required": False,
                "options": ["a", "b"],
            },
        ]
        features = {
            "opening_statement": "Hi",
            "file_upload": flat_upload,
            "user_input_form": [{"number": {"variable": "ignored"}}],
        }
        api.project(api.history.workflow_published(app, ws, features=features, start_variables=variables))
        body = api.get(f"/apps/{app}/parameters", owner[1]).json
        assert body["opening_statement"] == "Hi"
        assert body["file_upload"] == flat_upload  # served as given
        assert body["user_input_form"] == [{"text-input": variables[0]}, {"select": variables[1]}]
        assert body["retriever_resource"] == DISABLED  # the model-config default is not a workflow's
        assert body["sensitive_word_avoidance"] == {"enabled": False, "type": "", "configs": []}
        assert body["system_parameters"] == DEFAULT_SYSTEM_PARAMETERS
        assert len(body) == 12

    def test_an_enabled_legacy_image_upload_of_a_workflow_is_read_as_dify_reads_it(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        app = api.app(ws, owner[0], mode="workflow")
        legacy = {"image": {"enabled": True, "number_limits": 2, "transfer_methods": ["local_file"]}, "x": 1}
        api.project(
            api.history.workflow_published(app, ws, features={"file_upload": legacy}, start_variables=[])
        )
        body = api.get(f"/apps/{app}/parameters", owner[1]).json
        assert list(body["file_upload"].items()) == [
            ("x", 1),
            ("enabled", True),
            ("number_limits", 2),
            ("allowed_file_upload_methods", ["local_file"]),
            ("allowed_file_types", ["image"]),
            ("allowed_file_extensions", []),
        ]
        disabled = {"image": {"enabled": False, "number_limits": 3}}
        api.project(
            api.history.workflow_published(app, ws, features={"file_upload": disabled}, start_variables=[])
        )
        assert api.get(f"/apps/{app}/parameters", owner[1]).json["file_upload"] == disabled

    def test_the_latest_publication_wins(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0])
        api.project(api.history.model_config_published(app, ws, opening_statement="one"))
        api.project(api.history.model_config_published(app, ws, opening_statement="two"))
        assert api.get(f"/apps/{app}/parameters", owner[1]).json["opening_statement"] == "two"

    def test_nothing_published_is_app_unavailable(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0])
        result = api.get(f"/apps/{app}/parameters", owner[1])
        assert_error(result, 400, "app_unavailable", "App unavailable, please check your app configurations.")

    # --- describe --------------------------------------------------------------------------

    def test_describe_gives_all_three_blocks(self, api: Api, ws: str, owner: tuple[str, str]) -> None:
        app = api.app(ws, owner[0], name="A", description="d", mode="advanced-chat", tags=["t"])
        api.project(api.history.workflow_published(app, ws, start_variables=[]))
        result = api.get(f"/apps/{app}/describe", owner[1])
        assert_headers(result)
        body = result.json
        assert body["info"] == {
            "id": app,
            "name": "A",
            "description": "d",
            "mode": "advanced-chat",
            "author": "Ada",
            "tags": [{"name": "t"}],
            "updated_at": "2026-04-27T10:00:00",
            "service_api_enabled": True,
            "is_agent": True,
        }
        assert body["parameters"] == api.get(f"/apps/{app}/parameters", owner[1]).json
        assert body["input_schema"]["$schema"] == SCHEMA_DIALECT

    @pytest.mark.parametrize(
        ("mode", "is_agent"),
        [
            ("chat", False),
            ("agent-chat", True),
            ("advanced-chat", True),
            ("workflow", False),
            ("completion", False),
        ],
    )
    def test_is_agent(self, api: Api, ws: str, owner: tuple[str, str], mode: str, is_agent: bool) -> None:
        app = api.app(ws, owner[0], mode=mode)
        assert api.get(f"/apps/{app}/describe", owner[1], fields="info").json["info"]["is_agent"] is is_agent

    @pytest.mark.parametrize(
        ("fields", "present"),
        [
            ("info", {"info"}),
            ("parameters", {"parameters"}),
            ("input_schema", {"input_schema"}),
            ("info,input_schema", {"info", "input_schema"}),
            ("input_schema, info ", {"info", "input_schema"}),
            ("info,parameters,input_schema", {"info", "parameters", "input_schema"}),
            ("", {"info", "parameters", "input_schema"}),
            ("info,,info", {"info"}),
            (",", set()),  # a field list naming nothing asks for nothing
        ],
    )
    def test_fields_selects_blocks(
        self, api: Api, ws: str, owner: tuple[str, str], fields: str, present: set[str]
    ) -> None:
        app = api.app(ws, owner[0])
        api.project(api.history.model_config_published(app, ws))
        body = api.get(f"/apps/{app}/describe", owner[1], fields=fields).json
        assert list(body) == ["info", "parameters", "input_schema"]
        assert {name for name, block in body.items() if block is not None} == present

    @pytest.mark.parametrize("fields", ["bogus", "info,bogus", "INFO", "system_parameters"])
    def test_an_unknown_field_is_invalid(
        self, api: Api, ws: str, owner: tuple[str, str], fields: str
    ) -> None:
        app = api.app(ws, owner[0])
        assert_invalid(api.get(f"/apps/{app}/describe", owner[1], fields=fields), "fields")

    def test_describe_refuses_unknown_parameters_and_takes_the_first_fields(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        app = api.app(ws, owner[0])
        assert_invalid(api.get(f"/apps/{app}/describe", owner[1], foo="1", fields="x"), "fields", "foo")
        body = api.get(f"/apps/{app}/describe", owner[1], query_string="fields=info&fields=parameters").json
        assert body["info"] is not None
        assert body["parameters"] is None

    def test_describe_falls_back_when_nothing_is_published(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        app = api.app(ws, owner[0], mode="chat")
        body = api.get(f"/apps/{app}/describe", owner[1]).json
        assert body["parameters"] == {
            "opening_statement": None,
            "suggested_questions": [],
            "user_input_form": [],
            "file_upload": None,
            "system_parameters": {},
        }
        assert body["input_schema"] == {
            "$schema": SCHEMA_DIALECT,
            "type": "object",
            "properties": {},
            "required": [],
        }
        assert body["info"]["id"] == app

    @pytest.mark.parametrize(
        ("mode", "chat_style"),
        [
            ("chat", True),
            ("agent-chat", True),
            ("advanced-chat", True),
            ("completion", False),
            ("workflow", False),
        ],
    )
    def test_input_schema_for_every_form_type_and_mode(
        self, api: Api, ws: str, owner: tuple[str, str], mode: str, chat_style: bool
    ) -> None:
        app = api.app(ws, owner[0], mode=mode)
        if mode in ("workflow", "advanced-chat"):
            variables = [{"type": kind, **variable} for entry in FORM for kind, variable in entry.items()]
            api.project(api.history.workflow_published(app, ws, start_variables=variables))
        else:
            api.project(api.history.model_config_published(app, ws, user_input_form=FORM))
        schema = api.get(f"/apps/{app}/describe", owner[1], fields="input_schema").json["input_schema"]
        file_value = {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "transfer_method": {"type": "string"},
                "url": {"type": "string"},
                "upload_file_id": {"type": "string"},
            },
            "additionalProperties": True,
        }
        inputs = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "title": "Name", "maxLength": 48},
                "bio": {"type": "string", "title": "Bio"},
                "color": {"type": "string", "title": "Color", "enum": ["red", "blue"]},
                "age": {"type": "number", "title": "Age"},
                "photo": {**file_value, "title": "Photo"},
                "docs": {"type": "array", "items": file_value, "title": "Docs"},
            },
            "required": ["name", "color", "docs"],
            "additionalProperties": False,
        }
        query = {"query": {"type": "string", "minLength": 1}} if chat_style else {}
        expected = {
            "$schema": SCHEMA_DIALECT,
            "type": "object",
            "properties": {**query, "inputs": inputs},
            "required": [*query, "inputs"],
        }
        # Key order matters: Dify's answer is compared byte for byte by scripts and caches.
        assert orjson.dumps(schema) == orjson.dumps(expected)

    def test_input_schema_leaves_out_what_dify_leaves_out(
        self, api: Api, ws: str, owner: tuple[str, str]
    ) -> None:
        app = api.app(ws, owner[0], mode="completion")
        form = [
            {"text-input": {"variable": "a"}},  # no label: the variable is the title
            {"text-input": {"variable": "b", "label": "", "max_length": 0, "required": 1}},
            {"external_data_tool": {"variable": "c"}},  # a type Dify does not know
            {"text-input": {"label": "no variable"}},
            {"text-input": {"variable": "d"}, "extra": {}},
            {"select": {"variable": "e", "label": "E"}},  # no options: an empty enum
        ]
        api.project(api.history.model_config_published(app, ws, user_input_form=form))
        inputs = api.get(f"/apps/{app}/describe", owner[1], fields="input_schema").json["input_schema"]
        assert inputs["properties"]["inputs"]["properties"] == {
            "a": {"type": "string", "title": "a"},
            "b": {"type": "string", "title": "b"},
            "e": {"type": "string", "title": "E", "enum": []},
        }
        assert inputs["properties"]["inputs"]["required"] == ["b"]


class TestAppListOnFakeRedis(AppListContract):
    @pytest.fixture
    def redis_client(self, fake_redis: Any) -> Any:
        return fake_redis


class TestAppOnFakeRedis(AppContract):
    @pytest.fixture
    def redis_client(self, fake_redis: Any) -> Any:
        return fake_redis
