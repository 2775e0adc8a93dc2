"""The vocabulary every layer speaks, pure: claims (:mod:`.model`), money (:mod:`.money`), the
problems found in data (:mod:`.issues`), operational failures (:mod:`.errors`), adjustment
reasons in words (:mod:`.reasons`), plans and fee schedules (:mod:`.benefits`), members and
providers (:mod:`.reference_data`), the NPI check digit (:mod:`.npi`), claims and decisions as
JSON (:mod:`.codec`), and fast frozen dataclasses (:mod:`.frozen`).
"""
