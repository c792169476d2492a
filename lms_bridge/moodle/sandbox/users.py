"""The site and its users: core_webservice_get_site_info, core_user_*."""

from __future__ import annotations

import re
from typing import Any

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import EXC_MOODLE, MoodleException, invalid_parameter
from lms_bridge.moodle.sandbox.shapes import _user_out
from lms_bridge.moodle.sandbox.signatures import SIGNATURES
from lms_bridge.moodle.sandbox.world import RELEASES, _next, _now, defines


class UsersFunctions(SandboxBase):
    def fn_core_webservice_get_site_info(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        admin = state["users"]["2"]
        removed = set(state["config"]["removed_functions"])
        # A function the service lists but the release lacks is left out, as Moodle's join on
        # external_functions leaves it out (the plugin's service names the 5.x attempts function on 4.5 too).
        names = [
            n
            for n in SIGNATURES
            if n not in removed and defines(state, n)
            and (state["config"].get("plugin", True) or not n.startswith("local_lmsbridge_"))
        ]
        release, version = RELEASES[str(state["config"].get("release", "4.5"))]
        return {
            "sitename": "Sandbox Moodle",
            "username": admin["username"],
            "firstname": admin["firstname"],
            "lastname": admin["lastname"],
            "fullname": f"{admin['firstname']} {admin['lastname']}",
            "lang": "en",
            "userid": 2,
            "siteurl": base,
            "userpictureurl": f"{base}/theme/image.php/boost/core/1/u/f1",
            "functions": [{"name": n, "version": version} for n in sorted(names)],
            "downloadfiles": 1,
            "uploadfiles": 1,
            "release": release,
            "version": version,
            "mobilecssurl": "",
            "advancedfeatures": [{"name": "usecomments", "value": 1}],
            "usercanmanageownfiles": True,
            "userquota": 104857600,
            "usermaxuploadfilesize": 104857600,
            "userhomepage": 1,
            "userprivateaccesskey": "",
            "siteid": 1,
            "sitecalendartype": "gregorian",
            "usercalendartype": "gregorian",
            "userissiteadmin": True,
            "theme": "boost",
            "limitconcurrentlogins": 0,
            "policyagreed": 0,
        }

    def fn_core_user_get_users_by_field(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        field = p["field"]
        if field not in ("id", "idnumber", "username", "email"):
            raise invalid_parameter(
                "The search field 'field' is not supported, look at the web service documentation"
            )
        wanted = [str(v) for v in p["values"]]
        out = []
        for u in state["users"].values():
            value = str(u.get(field, ""))
            # An exact comparison for every field, e-mail included (4.5 get_records_list; captured
            # core_user_get_users_by_field__email_other_case).
            hit = value in wanted and value != ""
            if hit and u["id"] != 1:
                out.append(_user_out(u, base))
        return out

    def fn_core_user_get_users(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        """criteria AND-ed; email, firstname and lastname by a case-insensitive LIKE (% and _ wildcards)."""
        keys = ("id", "idnumber", "username", "email", "auth", "firstname", "lastname")
        used: set[str] = set()
        warnings, tests = [], []
        for c in p["criteria"]:
            if c["key"] in used:
                raise MoodleException(EXC_MOODLE, "keyalreadyset", "error/keyalreadyset")
            used.add(c["key"])
            if c["key"] not in keys:
                warnings.append({"item": c["key"], "warningcode": "invalidfieldparameter", "message": (
                    f"The search key '{c['key']}' is not supported, look at the web service documentation")})
                continue
            value = str(c["value"]).strip()
            if c["key"] in ("email", "firstname", "lastname"):
                pattern = re.compile("".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
                                             for ch in value), re.IGNORECASE | re.DOTALL)
                tests.append(lambda u, k=c["key"], rx=pattern: bool(rx.fullmatch(str(u.get(k, "")))))
            else:
                tests.append(lambda u, k=c["key"], v=value: str(u.get(k, "")) == v)
        users = [_user_out(u, base) for u in sorted(state["users"].values(), key=lambda u: u["id"])
                 if u["id"] != 1 and all(t(u) for t in tests)]
        return {"users": users, "warnings": warnings}

    def fn_core_user_create_users(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        # One transaction for the batch: validate everything before creating anything.
        seen_names: set[str] = set()
        for u in p["users"]:
            if u["username"] != u["username"].lower():
                raise invalid_parameter("The username must be in lower case")
            if (
                any(x["username"] == u["username"] for x in state["users"].values())
                or u["username"] in seen_names
            ):
                raise invalid_parameter(f"Username already exists: {u['username']}")
            if any(x["email"].lower() == u["email"].lower() for x in state["users"].values()):
                raise invalid_parameter(f"Email address already exists: {u['email']}")
            if "@" not in u["email"]:
                raise invalid_parameter(f"Email address is invalid: {u['email']}")
            if (u.get("auth") or "manual") not in ("manual", "oauth2", "email", "nologin", "ldap", "cas", "db"):
                raise invalid_parameter(f"Invalid authentication type: {u.get('auth')}")
            # Only an internal authentication (manual) keeps a password in Moodle and needs one
            # (user/externallib.php: $authplugin->is_internal()); OAuth 2 accounts sign in elsewhere.
            internal = (u.get("auth") or "manual") in ("manual", "email", "nologin")
            if internal and not u.get("createpassword") and not u.get("password"):
                raise invalid_parameter(
                    "Invalid password: you must provide a password, or set createpassword."
                )
            seen_names.add(u["username"])
        out = []
        for u in p["users"]:
            uid = _next(state, "user")
            state["users"][str(uid)] = {
                "id": uid,
                "username": u["username"],
                "firstname": u["firstname"],
                "lastname": u["lastname"],
                "email": u["email"],
                "idnumber": u.get("idnumber") or "",
                "auth": u.get("auth") or "manual",
                # createpassword also sets the preference auth_forcepasswordchange, whatever the auth.
                "forcepasswordchange": 1 if u.get("createpassword") else 0,
                "suspended": 0,
                "confirmed": 1,
                "timecreated": _now(),
            }
            out.append({"id": uid, "username": u["username"]})
        return out
