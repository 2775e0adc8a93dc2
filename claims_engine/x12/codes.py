"""Code values the codec reads and writes, with their meanings.

Claim status category (list 507) and claim status codes (list 508) for the 277CA, TA1 note
codes, and the 999 syntax error codes. Only the codes this engine uses are listed.
"""

from __future__ import annotations

# --- 277CA claim status categories (code list 507) -------------------------------------------
CATEGORY_ACCEPTED = "A2"  # Acknowledgement/Acceptance into adjudication system
CATEGORY_UNPROCESSABLE = "A3"  # Acknowledgement/Returned as unprocessable claim
CATEGORY_MISSING = "A6"  # Acknowledgement/Rejected for Missing Information
CATEGORY_INVALID = "A7"  # Acknowledgement/Rejected for Invalid Information
CATEGORY_RELATIONAL = "A8"  # Acknowledgement/Rejected for relational field in error

CATEGORIES = {
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
STATUS_ACCEPTED = "20"
STATUS_MISSING_OR_INVALID = "21"
STATUS_DUPLICATE = "54"
STATUS_NAME = "125"
STATUS_ADDRESS = "126"
STATUS_TAX_ID = "128"
STATUS_TAXONOMY = "145"
STATUS_ID_NUMBER = "153"
STATUS_RELATIONSHIP = "156"
STATUS_GENDER = "157"
STATUS_BIRTH_DATE = "158"
STATUS_MEMBER_ID = "164"
STATUS_CHARGES = "178"
STATUS_SERVICE_DATES = "187"
STATUS_STATEMENT_DATES = "188"
STATUS_ADMISSION_DATE = "189"
STATUS_SURFACE = "240"
STATUS_TOOTH = "244"
STATUS_ORAL_CAVITY = "245"
STATUS_PLACE_OF_SERVICE = "249"
STATUS_PRINCIPAL_DIAGNOSIS = "254"
STATUS_DIAGNOSIS = "255"
STATUS_NDC = "218"
STATUS_OUT_OF_BALANCE = "400"
STATUS_MODIFIER = "453"
STATUS_PROCEDURE = "454"
STATUS_REVENUE_CODE = "455"
STATUS_UNITS = "476"
STATUS_CLAIM_ID = "478"
STATUS_OTHER_PAYER_ID = "479"
STATUS_POSTAL_CODE = "500"
STATUS_STATE = "501"
STATUS_CITY = "502"
STATUS_STREET = "503"
STATUS_FUTURE_DATE = "510"
STATUS_INVALID_CHARACTER = "511"
STATUS_FREQUENCY = "535"
STATUS_NPI = "562"
STATUS_LINE_CHARGE = "583"
STATUS_ICD10 = "700"
STATUS_INCONSISTENT = "732"

STATUS_DESCRIPTIONS: dict[str, str] = {
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
ENTITY_BILLING = "85"
ENTITY_RENDERING = "82"
ENTITY_FACILITY = "77"
ENTITY_ATTENDING = "71"
ENTITY_OPERATING = "72"
ENTITY_REFERRING = "DN"
ENTITY_PATIENT = "QC"
ENTITY_SUBSCRIBER = "IL"
ENTITY_PAYER = "PR"
ENTITY_SUBMITTER = "41"

# --- TA1 interchange note codes (TA105) ------------------------------------------------------
TA1_NO_ERROR = "000"
TA1_CONTROL_MISMATCH = "001"
TA1_VERSION = "017"
TA1_STANDARD_ID = "016"
TA1_SENDER_QUALIFIER = "005"
TA1_SENDER_ID = "006"
TA1_RECEIVER_QUALIFIER = "007"
TA1_RECEIVER_ID = "008"
TA1_AUTH_QUALIFIER = "010"
TA1_AUTH_VALUE = "011"
TA1_SECURITY_QUALIFIER = "012"
TA1_SECURITY_VALUE = "013"
TA1_DATE = "014"
TA1_TIME = "015"
TA1_CONTROL_NUMBER = "018"
TA1_ACK_REQUESTED = "019"
TA1_TEST_INDICATOR = "020"
TA1_GROUP_COUNT = "021"
TA1_CONTROL_STRUCTURE = "022"
TA1_PREMATURE_END = "023"
TA1_INVALID_CONTENT = "024"
TA1_DUPLICATE = "025"
TA1_ELEMENT_SEPARATOR = "026"
TA1_COMPONENT_SEPARATOR = "027"

# --- 999 codes -------------------------------------------------------------------------------
# IK304 implementation segment syntax error codes
SEG_UNRECOGNIZED = "1"
SEG_UNEXPECTED = "2"
SEG_REQUIRED_MISSING = "3"
SEG_LOOP_OVER_MAX = "4"
SEG_OVER_MAX_USE = "5"
SEG_NOT_IN_SET = "6"
SEG_OUT_OF_SEQUENCE = "7"
SEG_ELEMENT_ERRORS = "8"
SEG_IMPL_DEPENDENT_MISSING = "I6"
# IK403 implementation data element syntax error codes
ELEM_MISSING = "1"
ELEM_TOO_MANY = "3"
ELEM_TOO_SHORT = "4"
ELEM_TOO_LONG = "5"
ELEM_INVALID_CHARACTER = "6"
ELEM_INVALID_CODE = "7"
ELEM_INVALID_DATE = "8"
ELEM_INVALID_TIME = "9"
ELEM_PATTERN = "I12"
ELEM_IMPL_DEPENDENT_MISSING = "I9"
# IK5 transaction set syntax error codes (IK502)
TS_NOT_SUPPORTED = "1"
TS_TRAILER_MISSING = "2"
TS_CONTROL_MISMATCH = "3"
TS_COUNT_MISMATCH = "4"
TS_SEGMENTS_IN_ERROR = "5"
TS_INVALID_ID = "6"
TS_INVALID_CONTROL = "7"
TS_DUPLICATE_CONTROL = "23"
TS_IMPL_NOT_SUPPORTED = "I6"
# AK9 functional group syntax error codes (AK905)
FG_NOT_SUPPORTED = "1"
FG_VERSION = "2"
FG_TRAILER_MISSING = "3"
FG_CONTROL_MISMATCH = "4"
FG_COUNT_MISMATCH = "5"
FG_CONTROL_SYNTAX = "6"
