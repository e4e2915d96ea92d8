"""Server-rendered pages of the method, one module per area. Routed in enablement/urls.py.

Views stay thin: they check the role, call selectors (reads) or services (writes), and
render. The query count of every page is fixed, whatever the number of rows.
"""
