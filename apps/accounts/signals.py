"""Signals other apps answer so a person's data can be exported and erased without the accounts
app knowing every model that names people.

- person_data_export(user, email): receivers return {"<section>": [...]} of what they hold.
- person_data_erase(user, email, names, pseudonym): receivers replace the person in their rows
  (inside the erasure's transaction) and return how many rows they changed.
"""

from django.dispatch import Signal

person_data_export = Signal()
person_data_erase = Signal()
