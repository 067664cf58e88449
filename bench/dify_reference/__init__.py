"""The app list served the way Dify serves it (Flask + SQLAlchemy ORM + PostgreSQL), for comparison."""
