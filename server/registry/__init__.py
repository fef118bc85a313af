"""The welfare registry: region codes, identity numbers, imports and matching."""
