"""What people read: the score report (Markdown, JSON, bar chart), the analysis tables and
the figures. Numbers come from ``steps``; nothing here computes a metric."""
