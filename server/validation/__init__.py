"""The one bridge between stored submissions and the pure rules: facts are loaded here, the
rules run, and their flags are stored."""
