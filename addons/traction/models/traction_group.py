# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).

from odoo import api, fields, models


class TractionGroup(models.Model):
    _name = "traction.group"
    _description = "Traction Group"
    _order = "name, id"

    name = fields.Char(required=True)
    issue_ids = fields.One2many(
        comodel_name="traction.issue",
        inverse_name="group_id",
        string="Issues",
    )
    # Not stored (the default for a computed field): always counted afresh.
    issue_count = fields.Integer(compute="_compute_issue_count")

    @api.depends("issue_ids")
    def _compute_issue_count(self):
        for group in self:
            group.issue_count = len(group.issue_ids)
