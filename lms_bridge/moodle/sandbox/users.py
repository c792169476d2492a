"""The site and its users: core_webservice_get_site_info, core_user_*."""

from __future__ import annotations

from typing import Any

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import invalid_parameter
from lms_bridge.moodle.sandbox.shapes import _user_out
from lms_bridge.moodle.sandbox.signatures import SIGNATURES
from lms_bridge.moodle.sandbox.world import RELEASE, VERSION, _next, _now


class UsersFunctions(SandboxBase):
    def fn_core_webservice_get_site_info(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        admin = state["users"]["2"]
        removed = set(state["config"]["removed_functions"])
        names = [
            n
            for n in SIGNATURES
            if n not in removed
            and (state["config"].get("plugin", True) or not n.startswith("local_lmsbridge_"))
        ]
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
            "functions": [{"name": n, "version": VERSION} for n in sorted(names)],
            "downloadfiles": 1,
            "uploadfiles": 1,
            "release": RELEASE,
            "version": VERSION,
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
            hit = value.lower() in {w.lower() for w in wanted} if field == "email" else value in wanted and value != ""
            if hit and u["id"] != 1:
                out.append(_user_out(u, base))
        return out

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
            if not u.get("createpassword") and not u.get("password"):
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
                "suspended": 0,
                "confirmed": 1,
                "timecreated": _now(),
            }
            out.append({"id": uid, "username": u["username"]})
        return out
