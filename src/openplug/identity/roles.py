"""Who may change the deployment's settings.

Every agent answers visitors and may read the settings; changing what
website backends and widgets depend on (apps and their origins, AATs,
custom attribute schemas) is for admins. A role can change at any time,
so it is read from the database when such a call is made, not carried in
the credential.
"""

from __future__ import annotations

from openplug.errors import Forbidden
from openplug.identity.dev_users import get_dev_user
from openplug.identity.principals import Principal, require_pat
from openplug.runtime import Runtime


async def require_admin(runtime: Runtime, principal: Principal) -> Principal:
    require_pat(principal)
    async with runtime.db.read() as conn:
        user = await get_dev_user(conn, principal.dev_user_id)
    if user.role != "admin":
        raise Forbidden(
            "only an admin may change apps, AATs and custom attributes; ask an admin to do it"
        )
    return principal
