from django import forms
from django.conf import settings

from .entries import parse_lines


class NewBatchForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Optional; defaults to the first hosts.")
    domains = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "placeholder": "example.com\nhttps://www.example.org/\nshop.example.net:8443"}),
        required=False,
        help_text="One domain or URL a line. Blank lines and lines starting with # are ignored.",
    )
    file = forms.FileField(required=False, help_text=".txt or .csv (first column).")

    def clean(self):
        cleaned = super().clean()
        lines = (cleaned.get("domains") or "").splitlines()
        upload = cleaned.get("file")
        if upload:
            lines += _upload_lines(upload)
        parsed = parse_lines(lines)
        self.parsed = parsed
        if not parsed.entries:
            raise forms.ValidationError("No valid domain or URL: paste at least one.")
        limit = settings.SITEMAPS_WEB_MAX_DOMAINS
        if len(parsed.entries) > limit:
            raise forms.ValidationError(
                f"{len(parsed.entries):,} domains is more than the {limit:,} a web submission may hold; "
                "use the import_domains command for larger batches."
            )
        return cleaned


def _upload_lines(upload):
    import csv
    import io

    text = io.TextIOWrapper(upload.file, encoding="utf-8", errors="replace")
    if upload.name.lower().endswith(".csv"):
        return [row[0] if row else "" for row in csv.reader(text)]
    return text.read().splitlines()
