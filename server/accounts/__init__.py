"""Users, projects, memberships, passwords and enumerator tokens."""
