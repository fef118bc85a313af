"""The OpenRosa protocol: form lists, manifests, media and submissions for ODK Collect."""
