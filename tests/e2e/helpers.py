"""Small helpers shared by the browser tests."""
import struct
import zlib


def png_bytes(width=640, height=480):
    """A real PNG photo stand-in (colour gradient), made with the standard library."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes(((x * 255) // width, (y * 255) // height, 140))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def english(api, *logins):
    """Make these demo users read the app in English (the demo seeds them in Chinese)."""
    for login in logins:
        api.ok("PATCH", "/me", {"locale": "en"}, login=login)


def new_pool_task(api, title, creator="mgr.wh1"):
    """A fresh stock-check work order: one pool task offered to the warehouse staff."""
    wo = api.create_work_order(creator, "stock_check", title)
    tasks = wo.get("tasks") or api.ok("GET", f"/work-orders/{wo['id']}", login=creator)["tasks"]
    task = next(t for t in tasks if t["mode"] == "pool" and t["status"] == "open")
    return wo, task


def timeline_kinds(api, wo_id, login="mgr.wh1", task_id=None):
    wo = api.ok("GET", f"/work-orders/{wo_id}", login=login)
    return [e["kind"] for e in wo.get("timeline", []) if task_id is None or e.get("task_id") in (None, task_id) and e.get("task_id") == task_id]


def outbox_entries(page):
    """The outbox as stored in IndexedDB by the page."""
    return page.evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open('baton-outbox');
            open.onerror = () => reject(open.error);
            open.onupgradeneeded = () => open.result.createObjectStore('entries');
            open.onsuccess = () => {
              const db = open.result;
              const req = db.transaction('entries').objectStore('entries').getAll();
              req.onsuccess = () => resolve(req.result.map((e) => ({id: e.id, key: e.key, kind: e.kind, status: e.status,
                 task_id: e.task_id, occurred_at: e.occurred_at, error: e.error || null, has_photo: !!e.photo})));
              req.onerror = () => reject(req.error);
            };
        })"""
    )


def reset_outbox_entry_to_pending(page, entry_id):
    """Simulate a lost answer: put a delivered entry back in the queue with the SAME key.

    Under the outbox's own Web Lock, as the app's passes take it: a pass still finishing in the page or the service
    worker would otherwise write its copy of the entry back over the reset.
    """
    page.evaluate(
        """(id) => navigator.locks.request('baton-outbox', () => new Promise((resolve, reject) => {
            const open = indexedDB.open('baton-outbox');
            open.onsuccess = () => {
              const tx = open.result.transaction('entries', 'readwrite');
              const store = tx.objectStore('entries');
              const get = store.get(id);
              get.onsuccess = () => { const e = get.result; e.status = 'pending'; e.done_at = null; store.put(e, id); };
              tx.oncomplete = () => resolve(true);
              tx.onerror = () => reject(tx.error);
            };
        }))""",
        entry_id,
    )
