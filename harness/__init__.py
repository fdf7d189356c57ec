"""hub-harness: run one Odoo 18 module's tests in an isolated Docker Compose environment, always clean up."""

__version__ = "0.1.0"
