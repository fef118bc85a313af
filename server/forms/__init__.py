"""Form definitions: converting XLSForms, checking them with JavaRosa, versions and media."""
