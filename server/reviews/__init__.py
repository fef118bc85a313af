"""The supervisors' review of submissions: who may see which (access), the queue and detail
page's reads (queries), the decisions and their audit (actions), and the pages (views)."""
