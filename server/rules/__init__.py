"""The validation rules: facts about a submission in, flags out. Pure: no Flask, SQLAlchemy,
Redis or file I/O anywhere in this package (tests/unit/test_rules_purity.py keeps it so)."""
