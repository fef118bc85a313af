"""Target lists, teams and assignments: which households each enumerator visits."""
