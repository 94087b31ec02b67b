"""The table, the charts and the HTML report."""
