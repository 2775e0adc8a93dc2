"""Code values the codec reads and writes, with their meanings.

Claim status category (list 507) and claim status codes (list 508) for the 277CA, TA1 note
codes, and the 999 syntax error codes. Only the codes this engine uses are listed.
"""

from __future__ import annotations

from typing import Final

# --- 277CA claim status categories (code list 507) -------------------------------------------
CATEGORY_ACCEPTED: Final = "A2"  # Acknowledgement/Acceptance into adjudication system
CATEGORY_UNPROCESSABLE: Final = "A3"  # Acknowledgement/Returned as unprocessable claim
CATEGORY_MISSING: Final = "A6"  # Acknowledgement/Rejected for Missing Information
CATEGORY_INVALID: Final = "A7"  # Acknowledgement/Rejected for Invalid Information
CATEGORY_RELATIONAL: Final = "A8"  # Acknowledgement/Rejected for relational field in error

CATEGORIES: Final = {
    "A1": "Acknowledgement/Receipt",
    "A2": "Acknowledgement/Acceptance into adjudication system",
    "A3": "Acknowledgement/Returned as unprocessable claim",
    "A4": "Acknowledgement/Not Found",
    "A5": "Acknowledgement/Split Claim",
    "A6": "Acknowledgement/Rejected for Missing Information",
    "A7": "Acknowledgement/Rejected for Invalid Information",
    "A8": "Acknowledgement/Rejected for relational field in error",
}

# --- claim status codes (code list 508) ------------------------------------------------------
STATUS_ACCEPTED: Final = "20"
STATUS_MISSING_OR_INVALID: Final = "21"
STATUS_DUPLICATE: Final = "54"
STATUS_NAME: Final = "125"
STATUS_ADDRESS: Final = "126"
STATUS_TAX_ID: Final = "128"
STATUS_TAXONOMY: Final = "145"
STATUS_ID_NUMBER: Final = "153"
STATUS_RELATIONSHIP: Final = "156"
STATUS_GENDER: Final = "157"
STATUS_BIRTH_DATE: Final = "158"
STATUS_MEMBER_ID: Final = "164"
STATUS_CHARGES: Final = "178"
STATUS_SERVICE_DATES: Final = "187"
STATUS_STATEMENT_DATES: Final = "188"
STATUS_ADMISSION_DATE: Final = "189"
STATUS_SURFACE: Final = "240"
STATUS_TOOTH: Final = "244"
STATUS_ORAL_CAVITY: Final = "245"
STATUS_PLACE_OF_SERVICE: Final = "249"
STATUS_PRINCIPAL_DIAGNOSIS: Final = "254"
STATUS_DIAGNOSIS: Final = "255"
STATUS_NDC: Final = "218"
STATUS_OUT_OF_BALANCE: Final = "400"
STATUS_MODIFIER: Final = "453"
STATUS_PROCEDURE: Final = "454"
STATUS_REVENUE_CODE: Final = "455"
STATUS_UNITS: Final = "476"
STATUS_CLAIM_ID: Final = "478"
STATUS_OTHER_PAYER_ID: Final = "479"
STATUS_POSTAL_CODE: Final = "500"
STATUS_STATE: Final = "501"
STATUS_CITY: Final = "502"
STATUS_STREET: Final = "503"
STATUS_FUTURE_DATE: Final = "510"
STATUS_INVALID_CHARACTER: Final = "511"
STATUS_FREQUENCY: Final = "535"
STATUS_NPI: Final = "562"
STATUS_LINE_CHARGE: Final = "583"
STATUS_ICD10: Final = "700"
STATUS_INCONSISTENT: Final = "732"

STATUS_DESCRIPTIONS: Final[dict[str, str]] = {
    "20": "Accepted for processing.",
    "21": "Missing or invalid information.",
    "54": "Duplicate of a previously processed claim/line.",
    "125": "Entity's name.",
    "126": "Entity's address.",
    "128": "Entity's tax id.",
    "145": "Entity's specialty/taxonomy code.",
    "153": "Entity's id number.",
    "156": "Patient relationship to subscriber.",
    "157": "Entity's Gender.",
    "158": "Entity's date of birth.",
    "164": "Entity's contract/member number.",
    "178": "Submitted charges.",
    "187": "Date(s) of service.",
    "188": "Statement from-through dates.",
    "189": "Facility admission date.",
    "218": "NDC number.",
    "240": "Tooth surface(s) involved.",
    "244": "Tooth number or letter.",
    "245": "Dental quadrant/arch.",
    "249": "Place of service.",
    "254": "Principal diagnosis code.",
    "255": "Diagnosis code.",
    "400": "Claim is out of balance.",
    "453": "Procedure Code Modifier(s) for Service(s) Rendered.",
    "454": "Procedure code for services rendered.",
    "455": "Revenue code for services rendered.",
    "476": "Missing or invalid units of service.",
    "478": "Claim submitter's identifier.",
    "479": "Other Carrier payer ID is missing or invalid.",
    "500": "Entity's Postal/Zip Code.",
    "501": "Entity's State/Province.",
    "502": "Entity's City.",
    "503": "Entity's Street Address.",
    "510": "Future date.",
    "511": "Invalid character.",
    "535": "Claim Frequency Code.",
    "562": "Entity's National Provider Identifier (NPI).",
    "583": "Line Item Charge Amount.",
    "700": "ICD10.",
    "732": "Information submitted inconsistent with billing guidelines.",
}

# --- entity identifier codes used in STC01-3 -------------------------------------------------
ENTITY_BILLING: Final = "85"
ENTITY_RENDERING: Final = "82"
ENTITY_FACILITY: Final = "77"
ENTITY_ATTENDING: Final = "71"
ENTITY_OPERATING: Final = "72"
ENTITY_REFERRING: Final = "DN"
ENTITY_PATIENT: Final = "QC"
ENTITY_SUBSCRIBER: Final = "IL"
ENTITY_PAYER: Final = "PR"
ENTITY_SUBMITTER: Final = "41"

# --- TA1 interchange note codes (TA105) ------------------------------------------------------
TA1_NO_ERROR: Final = "000"
TA1_CONTROL_MISMATCH: Final = "001"
TA1_VERSION: Final = "017"
TA1_STANDARD_ID: Final = "016"
TA1_SENDER_QUALIFIER: Final = "005"
TA1_SENDER_ID: Final = "006"
TA1_RECEIVER_QUALIFIER: Final = "007"
TA1_RECEIVER_ID: Final = "008"
TA1_AUTH_QUALIFIER: Final = "010"
TA1_AUTH_VALUE: Final = "011"
TA1_SECURITY_QUALIFIER: Final = "012"
TA1_SECURITY_VALUE: Final = "013"
TA1_DATE: Final = "014"
TA1_TIME: Final = "015"
TA1_CONTROL_NUMBER: Final = "018"
TA1_ACK_REQUESTED: Final = "019"
TA1_TEST_INDICATOR: Final = "020"
TA1_GROUP_COUNT: Final = "021"
TA1_CONTROL_STRUCTURE: Final = "022"
TA1_PREMATURE_END: Final = "023"
TA1_INVALID_CONTENT: Final = "024"
TA1_DUPLICATE: Final = "025"
TA1_ELEMENT_SEPARATOR: Final = "026"
TA1_COMPONENT_SEPARATOR: Final = "027"

# --- 999 codes -------------------------------------------------------------------------------
# IK304 implementation segment syntax error codes
SEG_UNRECOGNIZED: Final = "1"
SEG_UNEXPECTED: Final = "2"
SEG_REQUIRED_MISSING: Final = "3"
SEG_LOOP_OVER_MAX: Final = "4"
SEG_OVER_MAX_USE: Final = "5"
SEG_NOT_IN_SET: Final = "6"
SEG_OUT_OF_SEQUENCE: Final = "7"
SEG_ELEMENT_ERRORS: Final = "8"
SEG_IMPL_DEPENDENT_MISSING: Final = "I6"
SEG_NOT_USED: Final = "I4"  # implementation "not used" segment present
# IK403 implementation data element syntax error codes
ELEM_MISSING: Final = "1"
ELEM_CONDITIONAL_MISSING: Final = "2"
ELEM_TOO_MANY: Final = "3"
ELEM_TOO_SHORT: Final = "4"
ELEM_TOO_LONG: Final = "5"
ELEM_INVALID_CHARACTER: Final = "6"
ELEM_INVALID_CODE: Final = "7"
ELEM_INVALID_DATE: Final = "8"
ELEM_INVALID_TIME: Final = "9"
ELEM_EXCLUSION: Final = "10"
ELEM_TOO_MANY_REPETITIONS: Final = "12"
ELEM_TOO_MANY_COMPONENTS: Final = "13"
ELEM_NOT_USED: Final = "I10"  # implementation "not used" element present
ELEM_PATTERN: Final = "I12"
ELEM_IMPL_DEPENDENT_MISSING: Final = "I9"
# IK5 transaction set syntax error codes (IK502)
TS_NOT_SUPPORTED: Final = "1"
TS_TRAILER_MISSING: Final = "2"
TS_CONTROL_MISMATCH: Final = "3"
TS_COUNT_MISMATCH: Final = "4"
TS_SEGMENTS_IN_ERROR: Final = "5"
TS_INVALID_ID: Final = "6"
TS_INVALID_CONTROL: Final = "7"
TS_DUPLICATE_CONTROL: Final = "23"
TS_IMPL_NOT_SUPPORTED: Final = "I6"
# AK9 functional group syntax error codes (AK905)
FG_NOT_SUPPORTED: Final = "1"
FG_VERSION: Final = "2"
FG_TRAILER_MISSING: Final = "3"
FG_CONTROL_MISMATCH: Final = "4"
FG_COUNT_MISMATCH: Final = "5"
FG_CONTROL_SYNTAX: Final = "6"

# --- 837 element lengths ---------------------------------------------------------------------
# Minimum and maximum length of every 837 element the reader keeps whose value no code list or
# pattern already holds to a size (NPI, ZIP code, EIN, NDC, dates, CLM05 and the qualifiers are
# checked against those instead), by reference designator as pyx12's maps name them: NM109 is
# element 9 of NM1, SV101-02 the second component of SV101. The lengths are the X12 005010 data
# element dictionary's, which the 837 guides (005010X222A1, X223A2, X224A2) use unchanged; the
# number after each entry is that dictionary's element. A number (R) counts its digits only, not
# its sign or decimal point. What the engine writes back into a 277CA, 277 or 835 is checked
# here on the way in, so it fits there without being cut.
ELEMENT_LENGTHS: Final[dict[str, tuple[int, int]]] = {
    "BHT03": (1, 50),  # 127 batch reference: 277CA BHT03 and TRN02
    "NM103": (1, 60),  # 1035 last or organization name
    "NM104": (1, 35),  # 1036 first name
    "NM105": (1, 25),  # 1037 middle name
    "NM108": (1, 2),  # 66 id qualifier
    "NM109": (2, 80),  # 67 id: member id, payer id, provider id
    "PRV03": (1, 50),  # 127 taxonomy
    "N301": (1, 55),  # 166 address line
    "N302": (1, 55),  # 166
    "N401": (2, 30),  # 19 city
    "N402": (2, 2),  # 156 state
    "N403": (3, 15),  # 116 postal code (outside the US; a US ZIP code has its own shape)
    "REF02": (1, 50),  # 127 reference: original claim, authorization, line control number, TIN
    "SBR02": (2, 2),  # 1069 other payer's insured relationship (2320)
    "SBR03": (1, 50),  # 127 group number
    "SBR05": (1, 3),  # 1336 insurance type
    "SBR09": (1, 2),  # 1032 claim filing indicator
    "CLM01": (1, 38),  # 1028 patient control number
    "CLM02": (1, 18),  # 782 total charge
    "CL101": (1, 1),  # 1315 admission type
    "CL102": (1, 1),  # 1314 admission source
    "CL103": (1, 2),  # 1352 patient status
    "HI01-02": (1, 30),  # 1271 diagnosis code (HI01 to HI12 alike)
    "HI01-09": (1, 1),  # 1073 present on admission
    "AMT02": (1, 18),  # 782
    "CAS02": (1, 5),  # 1034 adjustment reason (CAS05, 08, 11, 14, 17 alike)
    "CAS03": (1, 18),  # 782 adjustment amount (CAS06, 09, 12, 15, 18 alike)
    "CAS04": (1, 15),  # 380 adjustment quantity (CAS07, 10, 13, 16, 19 alike)
    "SV101-02": (1, 48),  # 234 procedure code
    "SV101-03": (2, 2),  # 1339 modifiers
    "SV101-04": (2, 2),
    "SV101-05": (2, 2),
    "SV101-06": (2, 2),
    "SV101-07": (1, 80),  # 352 description
    "SV102": (1, 18),  # 782 line charge
    "SV104": (1, 15),  # 380 units
    "SV105": (1, 2),  # 1331 place of service
    "SV201": (1, 48),  # 234 revenue code
    "SV202-02": (1, 48),
    "SV202-03": (2, 2),
    "SV202-04": (2, 2),
    "SV202-05": (2, 2),
    "SV202-06": (2, 2),
    "SV202-07": (1, 80),
    "SV203": (1, 18),
    "SV205": (1, 15),
    "SV301-02": (1, 48),
    "SV301-03": (2, 2),
    "SV301-04": (2, 2),
    "SV301-05": (2, 2),
    "SV301-06": (2, 2),
    "SV301-07": (1, 80),
    "SV302": (1, 18),
    "SV303": (1, 2),  # 1331 place of service
    "SV304-01": (1, 3),  # 1361 oral cavity designation (five components alike)
    "SV304-02": (1, 3),
    "SV304-03": (1, 3),
    "SV304-04": (1, 3),
    "SV304-05": (1, 3),
    "SV306": (1, 15),
    "TOO02": (1, 30),  # 1271 tooth code
    "TOO03-01": (1, 2),  # 1369 tooth surface (five components alike)
    "TOO03-02": (1, 2),
    "TOO03-03": (1, 2),
    "TOO03-04": (1, 2),
    "TOO03-05": (1, 2),
    "CTP04": (1, 15),  # 380 drug quantity
    "CTP05-01": (2, 2),  # 355 drug unit
    "SVD01": (2, 80),  # 67 other payer id
    "SVD02": (1, 18),
    "SVD03-02": (1, 48),
    "SVD03-03": (2, 2),
    "SVD03-04": (2, 2),
    "SVD03-05": (2, 2),
    "SVD03-06": (2, 2),
    "SVD03-07": (1, 80),
    "SVD05": (1, 15),
    "SVD06": (1, 6),  # 554 bundled line number
}
