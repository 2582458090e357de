"""Ledger search: buyer name, e-mail, order number, ticket id over the FTS5 index (query forms: agent.search_query)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.ledger import index_file
from agent.ledger.catalogue import TICKET_COLUMNS as _TICKET_COLUMNS
from agent.ledger.catalogue import ticket_columns
from agent.ledger.part import LedgerPart

if TYPE_CHECKING:
    from agent.search_query import Form


class SearchMixin(LedgerPart):
    """Part of agent.ledger.Ledger (needs `conn`)."""

    # -- search ------------------------------------------------------------------------------------------------
    SEARCH_CANDIDATES = 200   # rows checked against long prefixes before asking FTS5 for the whole prefix

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Buyer name (accent/case-insensitive), email, order number or ticket id. Every word must match: as typed
        first; if nothing matches, the last word (being typed) as a prefix; then every word as a prefix
        (agent/search_query.py). An exact ticket id comes first."""
        from agent.search_query import search_forms
        conn = self.conn
        found: dict[str, dict[str, Any]] = {}
        exact = self.ticket(query.strip()) if query else None
        if exact is not None:
            found[exact["ticket_key"]] = exact
        for form in search_forms(query, index_file.has_letter_index(conn)):    # widen only while nothing matched
            hits, read = self._search_rows(form.match, form, limit, found)
            if form.prefixes and read >= self.SEARCH_CANDIDATES and len(found) < limit:
                # the whole prefixes are in the match: only an elided name's join is left to check on the rows
                hits += self._search_rows(form.native, form if form.elided else None, limit, found)[0]
            if hits:
                break
        return list(found.values())[:limit]

    def _search_rows(self, match: str, form: Form | None, limit: int, found: dict[str, Any]) -> tuple[int, int]:
        sql = (f"SELECT {ticket_columns(_TICKET_COLUMNS)} FROM tickets_fts f JOIN tickets t ON t.id = f.rowid "
               "WHERE tickets_fts MATCH ? LIMIT ?")
        hits = read = 0
        cap = self.SEARCH_CANDIDATES if form is not None and (form.prefixes or form.elided) else limit
        for r in self.conn.execute(sql, (match, cap)):
            read += 1
            if form is None or form.keeps(r[0], r[2], r[3], r[4]):      # ticket key, order number, name, email
                hits += 1
                found.setdefault(r[0], dict(zip(_TICKET_COLUMNS, r)))
                if len(found) >= limit:
                    break
        return hits, read

    def ticket(self, ticket_key: str) -> dict[str, Any] | None:
        cols = (*_TICKET_COLUMNS, "payload")    # payload: the signed QR (kiosk devices; None elsewhere)
        row = self.conn.execute(f"SELECT {ticket_columns(cols)} FROM tickets t WHERE ticket_key=?", (ticket_key,)).fetchone()
        return dict(zip(cols, row)) if row else None
