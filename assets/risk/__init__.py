"""The inspectors' risk ranking (issue 31): which factories to visit first, honestly evaluated.

A part of its own, next to (not inside) disclosure control and publication: it reads the warehouse's factory-month
aggregates and the staged assessments (never a worker-level key in what it keeps), and writes to the inspectorate
folder (`data/inspectorate/`, readable by its owner only), never into the public marts, the SDMX export or the
portal. See docs/risk.md (model card and evaluation).
"""
