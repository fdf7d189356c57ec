# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Traction",
    "summary": "Track issues raised by leadership groups and mark them solved",
    "version": "18.0.1.0.0",
    "category": "Productivity",
    "license": "LGPL-3",
    "author": "Hub Harness",
    "depends": ["base"],
    "data": [
        "security/traction_security.xml",
        "security/ir.model.access.csv",
        "views/traction_issue_views.xml",
        "views/traction_group_views.xml",
        "views/traction_menus.xml",
    ],
    "installable": True,
    "application": False,
}
