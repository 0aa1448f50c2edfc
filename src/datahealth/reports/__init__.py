"""Reports: HTML pages and PDFs (WeasyPrint, Japanese font embedded), XLSX tables and inline SVG charts."""
