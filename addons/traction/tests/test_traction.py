# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).

from odoo.exceptions import AccessError, ValidationError
from odoo.fields import Command
from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install", "traction")
class TestTraction(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.group = cls.env["traction.group"].create({"name": "Leadership Team"})
        cls.issue = cls.env["traction.issue"].create(
            {"name": "Hiring is too slow", "group_id": cls.group.id}
        )
        users = cls.env["res.users"].with_context(no_reset_password=True)
        cls.traction_user = users.create(
            {
                "name": "Traction Test User",
                "login": "traction_test_user",
                "groups_id": [
                    Command.set([cls.env.ref("traction.group_traction_user").id])
                ],
            }
        )
        cls.employee = users.create(
            {
                "name": "Traction Test Employee",
                "login": "traction_test_employee",
                "groups_id": [Command.set([cls.env.ref("base.group_user").id])],
            }
        )

    def test_issue_defaults(self):
        self.assertEqual(self.issue.state, "open")
        self.assertEqual(self.issue.priority, "1")
        self.assertEqual(self.issue.owner_id, self.env.user)
        self.assertFalse(self.issue.description)

    def test_group_issue_count(self):
        self.assertEqual(self.group.issue_count, 1)
        self.env["traction.issue"].create(
            [
                {"name": "Churn is up", "group_id": self.group.id},
                {"name": "No weekly meeting", "group_id": self.group.id},
            ]
        )
        self.assertEqual(self.group.issue_count, 3)
        other_group = self.env["traction.group"].create({"name": "Sales Team"})
        self.assertEqual(other_group.issue_count, 0)
        self.issue.group_id = other_group
        self.assertEqual(self.group.issue_count, 2)
        self.assertEqual(other_group.issue_count, 1)

    def test_action_solve(self):
        other = self.env["traction.issue"].create({"name": "Office move"})
        self.issue.action_solve()
        self.assertEqual(self.issue.state, "solved")
        self.assertEqual(other.state, "open")

    def test_blank_name_forbidden(self):
        with self.assertRaises(ValidationError):
            self.env["traction.issue"].create({"name": "   "})
        with self.assertRaises(ValidationError):
            self.issue.write({"name": " \t "})
        self.assertEqual(self.issue.name, "Hiring is too slow")

    def test_traction_user_can_create_issue(self):
        self.assertIn(self.env.ref("base.group_user"), self.traction_user.groups_id)
        issue = (
            self.env["traction.issue"]
            .with_user(self.traction_user)
            .create({"name": "Cash flow", "group_id": self.group.id, "priority": "2"})
        )
        self.assertEqual(issue.owner_id, self.traction_user)
        self.assertEqual(issue.priority, "2")
        issue.action_solve()
        self.assertEqual(issue.state, "solved")

    def test_employee_can_only_read(self):
        issue = self.issue.with_user(self.employee)
        self.assertEqual(issue.read(["name"])[0]["name"], "Hiring is too slow")
        with self.assertRaises(AccessError):
            self.env["traction.issue"].with_user(self.employee).create(
                {"name": "Not allowed"}
            )
