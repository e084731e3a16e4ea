"""Documents: read PDF, DOCX, HTML, text and Markdown files into sections, chunk them by structure, code them."""
