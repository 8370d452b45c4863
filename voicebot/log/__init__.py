"""The conversation log: every turn in SQLite, written without holding a turn up.

store (the database: numbered migrations, FTS5 search), writer (turns handed to a writer
thread in order), observer (a turn's events become its row), reading (the log opened where
it cannot be written: a read-only folder, a full disk).
"""
