"""Asking the enrollment endpoint whether this device was revoked (after the broker refused our login).

    POST /v1/revocation {"device": id}  ->  200 {"signed": <signed wipe>}   the device was revoked
                                         ->  404                            it was not
The answer is only a claim: the caller wipes after checking the organiser's signature on it
(`provisioning.device.link.is_wipe_command`), so a rogue endpoint on the hotspot cannot brick anyone.
"""
from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

from agent.sync.transport import unreachable_reason
from provisioning.protocol import split_hostport

MAX_ANSWER = 64 * 1024


def ask(server: str, device_id: str, timeout: float = 2.0) -> bytes | None:
    """The signed wipe the endpoint holds for `device_id`, or None when it says the device is not revoked.
    OSError when it cannot be asked (unreachable, timeout, an answer that is not ours)."""
    host, port = split_hostport(server)
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    req = urllib.request.Request(base + "/v1/revocation", data=json.dumps({"device": device_id}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read(MAX_ANSWER))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise OSError(f"the enrollment endpoint answered {exc.code}") from None
    except urllib.error.URLError as exc:
        why = unreachable_reason(exc.reason) if isinstance(exc.reason, OSError) else exc.reason
        raise OSError(f"cannot reach the enrollment endpoint at {server}: {why}") from None
    except (ValueError, UnicodeDecodeError, http.client.HTTPException):
        raise OSError("the enrollment endpoint answered something that is not JSON over HTTP") from None
    signed = answer.get("signed") if isinstance(answer, dict) else None
    if not isinstance(signed, str):
        raise OSError("the enrollment endpoint's answer carries no signed wipe")
    return signed.encode()
