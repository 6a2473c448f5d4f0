"""QR codes of entry points: a PNG (segno) and a printable A4 sheet of labels (reportlab).

One QR library draws both: the sheet draws segno's modules as vector squares, so a label prints as sharp as the PNG
and encodes the same symbol. Text on the sheet uses reportlab's built-in CID font STSong-Light, which every PDF
reader has for Chinese, so no font file ships. Both libraries load on first use: printing is rare, cold starts are not.
"""
import io

ERROR_LEVEL = "m"  # 15% of the symbol may be lost (a scratched or dirty label) and it still reads
QUIET_ZONE = 4  # modules of white around the symbol, as the standard asks
FONT = "STSong-Light"

# The sheet: A4 in points, three columns and four rows of labels.
MM = 72 / 25.4
PAGE_W, PAGE_H = 210 * MM, 297 * MM
MARGIN = 12 * MM
COLUMNS, ROWS = 3, 4
CELL_W, CELL_H = (PAGE_W - 2 * MARGIN) / COLUMNS, (PAGE_H - 2 * MARGIN) / ROWS
QR_SIZE = 46 * MM


def _symbol(url: str):
    import segno

    return segno.make(url, error=ERROR_LEVEL, micro=False, boost_error=False)


def qr_png(url: str, *, scale: int = 10) -> bytes:
    """The QR of `url` as a PNG, `scale` pixels per module, with its quiet zone."""
    out = io.BytesIO()
    _symbol(url).save(out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()


def _fit(text: str, size: float, width: float) -> str:
    """`text` cut (with an ellipsis) to fit `width` at `size` points."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, FONT, size) <= width:
        return text
    while text and stringWidth(text + "…", FONT, size) > width:
        text = text[:-1]
    return text + "…"


def _draw_symbol(canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR of `url` as black squares in a `size` square whose lower left corner is (x, y), quiet zone included."""
    matrix = _symbol(url).matrix
    count = len(matrix)
    module = size / (count + 2 * QUIET_ZONE)
    canvas.setFillColorRGB(0, 0, 0)
    path = canvas.beginPath()
    for r, row in enumerate(matrix):
        top = y + size - (QUIET_ZONE + r + 1) * module
        c = 0
        while c < count:  # one rectangle per run of dark modules
            if row[c]:
                start = c
                while c < count and row[c]:
                    c += 1
                path.rect(x + (QUIET_ZONE + start) * module, top, (c - start) * module, module)
            else:
                c += 1
    canvas.drawPath(path, stroke=0, fill=1)


def qr_sheet(labels: list[dict], *, title: str = "Baton QR") -> bytes:
    """An A4 PDF of labels, twelve a page: each `{"url", "name", "template", "location"}` as its QR with the name, the
    template's title and the location under it, with light cutting lines."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas as pdf

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    out = io.BytesIO()
    sheet = pdf.Canvas(out, pagesize=(PAGE_W, PAGE_H), invariant=1)
    sheet.setTitle(title)
    sheet.setAuthor("Baton")
    per_page = COLUMNS * ROWS
    for i, label in enumerate(labels):
        if i and i % per_page == 0:
            sheet.showPage()
        slot = i % per_page
        left = MARGIN + (slot % COLUMNS) * CELL_W
        bottom = PAGE_H - MARGIN - (slot // COLUMNS + 1) * CELL_H
        sheet.setStrokeColorRGB(0.8, 0.8, 0.8)
        sheet.setLineWidth(0.5)
        sheet.setDash(2, 3)
        sheet.rect(left, bottom, CELL_W, CELL_H, stroke=1, fill=0)
        _draw_symbol(sheet, label["url"], left + (CELL_W - QR_SIZE) / 2, bottom + CELL_H - QR_SIZE - 3 * MM, QR_SIZE)
        width = CELL_W - 6 * MM
        centre = left + CELL_W / 2
        lines = [(label["name"], 12, 0), (label.get("template") or "", 8.5, 0.35), (label.get("location") or "", 8.5, 0.35)]
        baseline = bottom + CELL_H - QR_SIZE - 9 * MM
        for text, size, grey in lines:
            if text:
                sheet.setFont(FONT, size)
                sheet.setFillColorRGB(grey, grey, grey)
                sheet.drawCentredString(centre, baseline, _fit(text, size, width))
                baseline -= size + 3.5
    sheet.showPage()
    sheet.save()
    return out.getvalue()
