from . import traction_group
from . import traction_issue
