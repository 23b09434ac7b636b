"""The use cases, grouped by area; reach them through the ``Reserver`` facade."""
