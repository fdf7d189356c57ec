from . import test_traction
