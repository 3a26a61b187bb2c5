# obflow's OBServer simulator: the stand-in for OceanBase's
# bin/import_time_zone_info.py. It takes the real script's options
# (-h host -P port [-p password] [-t tenant] -f file) and has the same
# effect: it loads the time zone file into the oceanbase.__all_tenant_time_zone*
# tables through the observer's MySQL port. The simulator binary next to it
# (bin/observer) does the work, so, like the real script, it needs only a
# Python interpreter (2 or 3) on the host, and no MySQL module.
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
os.execv(os.path.join(here, "observer"), ["import_time_zone_info.py"] + sys.argv[1:])
