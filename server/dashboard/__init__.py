"""The supervisors' dashboard: field progress per kecamatan, village, team and enumerator,
flags by rule, submissions per day and enumerator scorecards, drawn as CSS bars and inline
SVG by the server (no chart library). Grouped reads (queries), pure figures (metrics) and
the page (views); reach is the review's (reviews.access).
"""
