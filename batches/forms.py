import io

from django import forms
from django.conf import settings

from .entries import CsvFirstColumn, ParsedEntries
from .uploads import MAX_UPLOAD_BYTES

TOO_LARGE = "The file is larger than 10 MB; use the import_domains command."
UPLOAD_SUFFIXES = (".txt", ".csv")


class NewBatchForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Optional; defaults to the first hosts.")
    domains = forms.CharField(
        widget=forms.Textarea(attrs={
            "rows": 12, "spellcheck": "false", "autocomplete": "off",
            "placeholder": "example.com\nhttps://www.example.org/\nshop.example.net:8443",
        }),
        required=False,
        help_text=("One domain or URL a line; a URL counts for its origin. "
                   "Blank lines and lines starting with # are ignored."),
    )
    file = forms.FileField(required=False, help_text=".txt (one a line) or .csv (first column), up to 10 MB.",
                           widget=forms.ClearableFileInput(attrs={"accept": ".txt,.csv,text/plain,text/csv"}))

    def __init__(self, *args, file_too_large=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.file_too_large = file_too_large  # the upload handler stopped reading it (uploads.py)
        self.parsed = None
        # (where, InvalidLine), the first INVALID_KEPT: "Line 3" for pasted text, "File line 3" for the upload
        self.invalid_lines = []
        self.csv_header = None  # (line number, text) of a CSV upload's header row

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if not upload:
            return upload
        if not upload.name.lower().endswith(UPLOAD_SUFFIXES):
            raise forms.ValidationError("Upload a .txt or .csv file.")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(TOO_LARGE)
        return upload

    def clean(self):
        cleaned = super().clean()
        if self.file_too_large:
            self.add_error("file", TOO_LARGE)
        if self.errors:
            return cleaned
        self.parsed = ParsedEntries()
        self.lines_left = settings.SITEMAPS_WEB_MAX_LINES
        # Read line by line rather than splitlines(): a 10 MB paste never becomes a million strings at once.
        self._add_lines("Line", io.StringIO(cleaned.get("domains") or "", newline=None))
        if cleaned.get("file"):
            self._add_lines("File line", self._upload_lines(cleaned["file"]))
        if self.lines_left < 0:
            raise forms.ValidationError(
                f"The list has more than {settings.SITEMAPS_WEB_MAX_LINES:,} lines, more than a web submission "
                "may hold; split it or use the import_domains command."
            )
        if not self.parsed.entries:
            raise forms.ValidationError("No valid domain or URL: paste at least one, or upload a file.")
        limit = settings.SITEMAPS_WEB_MAX_DOMAINS
        if len(self.parsed.entries) > limit:
            raise forms.ValidationError(
                f"{len(self.parsed.entries):,} domains is more than the {limit:,} a web submission may hold; "
                "split the list or use the import_domains command."
            )
        return cleaned

    def _add_lines(self, where, lines):
        """Parse `lines` until SITEMAPS_WEB_MAX_LINES have been read (the work one request may do)."""
        known_invalid = len(self.parsed.invalid)
        for number, line in enumerate(lines, start=1):
            self.lines_left -= 1
            if self.lines_left < 0:
                break
            self.parsed.add_line(number, line)
        self.invalid_lines += [(where, invalid) for invalid in self.parsed.invalid[known_invalid:]]

    def _upload_lines(self, upload):
        text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", errors="replace")
        if not upload.name.lower().endswith(".csv"):
            yield from text
            return
        column = CsvFirstColumn()
        for number, line in enumerate(text, start=1):
            yield column.cell(number, line)
        self.csv_header = column.header


class UrlFilterForm(forms.Form):
    """The filters above a domain's URL table; every field is optional."""

    q = forms.CharField(required=False, max_length=200, label="URL contains",
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "/blog/"}))
    sitemap = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Sitemap")
    lastmod_from = forms.DateField(required=False, label="Lastmod from",
                                   widget=forms.DateInput(attrs={"type": "date"}))
    lastmod_to = forms.DateField(required=False, label="Lastmod to", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, sitemaps):
        super().__init__(data)
        self.fields["sitemap"].choices = [("", "All sitemaps")] + [(s.pk, s.url) for s in sitemaps if s.url_count]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("lastmod_from"), cleaned.get("lastmod_to")
        if start and end and start > end:
            raise forms.ValidationError("The lastmod range ends before it starts.")
        return cleaned

    @property
    def active(self):
        return self.is_valid() and any(value not in (None, "") for value in self.cleaned_data.values())


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=True, label="Token name",
                           widget=forms.TextInput(attrs={"placeholder": "nightly import script"}))
