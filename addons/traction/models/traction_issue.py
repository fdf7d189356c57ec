# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).

from odoo import api, fields, models
from odoo.exceptions import ValidationError


class TractionIssue(models.Model):
    _name = "traction.issue"
    _description = "Traction Issue"
    _order = "priority desc, id desc"

    name = fields.Char(required=True)
    description = fields.Text()
    priority = fields.Selection(
        selection=[("0", "Low"), ("1", "Normal"), ("2", "High")],
        default="1",
    )
    state = fields.Selection(
        selection=[("open", "Open"), ("solved", "Solved")],
        default="open",
        required=True,
    )
    owner_id = fields.Many2one(
        comodel_name="res.users",
        default=lambda self: self.env.user,
    )
    group_id = fields.Many2one(
        comodel_name="traction.group",
        ondelete="set null",
        index=True,
    )

    @api.constrains("name")
    def _check_name_not_blank(self):
        for issue in self:
            if not (issue.name or "").strip():
                raise ValidationError(
                    self.env._("The name of an issue cannot be empty.")
                )

    def action_solve(self):
        self.write({"state": "solved"})
        return True
