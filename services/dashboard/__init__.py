"""The web dashboard's page logic. Owned by the SuperAgent (which serves it at `/`).

Pure code turns API answers into what a template shows (view models: `overview.py`, one module
per page), `pages.py` lists the pages with the permission each needs (the navigation offers a
page only to those who may use it), `render.py` renders templates into responses with the
security headers every page carries, and `assets.py` serves `static/` (our own files and the
vendored libraries of `static/vendor/manifest.json`). The routes are in
agents/super_agent/routes/dashboard.py; they read and write only through the API's own routes
(services/gateway/inprocess.py). How to add a page: docs/DASHBOARD.md.
"""
