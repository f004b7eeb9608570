"""The code systems and codes EHP names (ICD-10, LOINC, CVX, ATC, SNOMED CT, HL7): the passport's
sections, the registries' attachment codes and the synthetic generator all draw on them.

Each code is a :class:`Code` so that a resource can carry ``{system, code, display}`` as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
FACILITY_TYPE = "http://ehp.kz/fhir/CodeSystem/facility-type"
"""EHP's own code system of facility kinds (polyclinic, hospital, ...)."""
EPISODE_TYPE = "http://ehp.kz/fhir/CodeSystem/episode-type"
"""EHP's own code system of EpisodeOfCare types: ``attachment`` and ``dispensary``."""


@dataclass(frozen=True, slots=True)
class Code:
    system: str
    code: str
    display: str

    def coding(self) -> dict[str, Any]:
        return {"system": self.system, "code": self.code, "display": self.display}

    def concept(self, *more: Code) -> dict[str, Any]:
        """A CodeableConcept with this coding (and ``more``), its text the first display."""
        return {"coding": [self.coding(), *(code.coding() for code in more)], "text": self.display}


def icd(code: str, display: str) -> Code:
    return Code(ICD10, code, display)


def loinc(code: str, display: str) -> Code:
    return Code(LOINC, code, display)


def atc(code: str, display: str) -> Code:
    return Code(ATC, code, display)


# Encounter classes (v3 ActCode).
AMBULATORY = Code(ACT_CODE, "AMB", "ambulatory")
EMERGENCY = Code(ACT_CODE, "EMER", "emergency")
INPATIENT = Code(ACT_CODE, "IMP", "inpatient encounter")

# Chronic diseases under dispensary observation.
HYPERTENSION = icd("I10", "Essential (primary) hypertension")
DIABETES = icd("E11", "Type 2 diabetes mellitus")

# Acute problems seen at the polyclinic, with a weight by age group (child, adult, elderly).
ACUTE: tuple[tuple[Code, tuple[float, float, float]], ...] = (
    (icd("J06.9", "Acute upper respiratory infection, unspecified"), (10, 6, 4)),
    (icd("J20.9", "Acute bronchitis, unspecified"), (3, 2, 2)),
    (icd("J03.9", "Acute tonsillitis, unspecified"), (3, 1, 0.3)),
    (icd("H66.9", "Otitis media, unspecified"), (2, 0.4, 0.2)),
    (icd("A09", "Other gastroenteritis and colitis of infectious and unspecified origin"), (2, 0.8, 0.5)),
    (icd("K29.7", "Gastritis, unspecified"), (0.3, 1.5, 1.5)),
    (icd("M54.5", "Low back pain"), (0, 2, 2)),
    (icd("N39.0", "Urinary tract infection, site not specified"), (0.5, 1, 1.2)),
    (icd("L30.9", "Dermatitis, unspecified"), (1, 0.6, 0.5)),
    (icd("R51", "Headache"), (0.3, 0.8, 0.6)),
    (icd("S93.4", "Sprain and strain of ankle"), (0.5, 0.6, 0.2)),
    (icd("M17.9", "Gonarthrosis, unspecified"), (0, 0.4, 2)),
    (icd("J45.9", "Asthma, unspecified"), (0.4, 0.4, 0.4)),
    (icd("Z00.0", "General medical examination"), (2, 1.5, 1)),
)
PREGNANCY_SUPERVISION = icd("Z34.8", "Supervision of other normal pregnancy")
SPONTANEOUS_DELIVERY = icd("O80", "Single spontaneous delivery")
CAESAREAN_DELIVERY = icd("O82", "Single delivery by caesarean section")
LIVE_BORN = icd("Z38.0", "Singleton, born in hospital")
SCREENING = icd("Z13.6", "Special screening examination for cardiovascular disorders")

# Ambulance calls: (reason, weight for adults, weight for children, leads to a hospital stay).
AMBULANCE: tuple[tuple[Code, float, float, bool], ...] = (
    (icd("I10", "Essential (primary) hypertension"), 4, 0, False),
    (icd("R07.4", "Chest pain, unspecified"), 2, 0.1, False),
    (icd("R50.9", "Fever, unspecified"), 1, 5, False),
    (icd("T14.9", "Injury, unspecified"), 1.5, 1.5, False),
    (icd("R55", "Syncope and collapse"), 1, 0.2, False),
    (icd("J18.9", "Pneumonia, unspecified"), 0.8, 1, True),
    (icd("K35.8", "Acute appendicitis, other and unspecified"), 0.4, 0.6, True),
    (icd("I21.9", "Acute myocardial infarction, unspecified"), 0.4, 0, True),
    (icd("I63.9", "Cerebral infarction, unspecified"), 0.4, 0, True),
    (icd("S06.0", "Concussion"), 0.3, 0.5, True),
)
# Planned hospital stays: (diagnosis, weight for adults, weight for the elderly, days).
PLANNED_STAYS: tuple[tuple[Code, float, float, int], ...] = (
    (icd("K80.2", "Calculus of gallbladder without cholecystitis"), 2, 2, 5),
    (icd("I25.1", "Atherosclerotic heart disease"), 1, 3, 8),
    (icd("N20.0", "Calculus of kidney"), 1.5, 1, 5),
    (icd("K40.9", "Unilateral or unspecified inguinal hernia, without obstruction or gangrene"), 1, 1, 4),
    (icd("M17.1", "Other primary gonarthrosis"), 0.3, 1.5, 10),
    (icd("J44.1", "Chronic obstructive pulmonary disease with acute exacerbation, unspecified"), 0.3, 1.5, 9),
)
# Causes of death by age group (under 60, 60 and over).
DEATH_CAUSES: tuple[tuple[Code, float, float], ...] = (
    (icd("I21.9", "Acute myocardial infarction, unspecified"), 2, 4),
    (icd("I25.1", "Atherosclerotic heart disease"), 1, 5),
    (icd("I64", "Stroke, not specified as haemorrhage or infarction"), 1, 4),
    (icd("C34.9", "Malignant neoplasm: Bronchus or lung, unspecified"), 1, 1.5),
    (icd("C16.9", "Malignant neoplasm: Stomach, unspecified"), 0.6, 1),
    (icd("J18.9", "Pneumonia, unspecified"), 0.6, 1.2),
    (icd("K74.6", "Other and unspecified cirrhosis of liver"), 0.8, 0.6),
    (icd("V89.2", "Person injured in unspecified motor-vehicle accident, traffic"), 1.2, 0.2),
    (icd("X59", "Exposure to unspecified factor"), 0.8, 0.3),
)
INFANT_DEATH_CAUSES = (
    icd("P07.3", "Other preterm infants"),
    icd("P22.0", "Respiratory distress syndrome of newborn"),
    icd("Q24.9", "Congenital malformation of heart, unspecified"),
)

# Observations.
BLOOD_PRESSURE = loinc("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = loinc("8480-6", "Systolic blood pressure")
DIASTOLIC = loinc("8462-4", "Diastolic blood pressure")
HBA1C = loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")
GLUCOSE = loinc("14749-6", "Glucose [Moles/volume] in Serum or Plasma")
CHOLESTEROL = loinc("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma")
HEMOGLOBIN = loinc("718-7", "Hemoglobin [Mass/volume] in Blood")
LEUKOCYTES = loinc("6690-2", "Leukocytes [#/volume] in Blood by Automated count")
CREATININE = loinc("14682-9", "Creatinine [Moles/volume] in Serum or Plasma")
BIRTH_WEIGHT = loinc("8339-4", "Birth weight Measured")
CAUSE_OF_DEATH = loinc("69453-9", "Cause of death [US Standard Certificate of Death]")

# Medications (ATC) with a dosage text.
HYPERTENSION_DRUGS = (
    (atc("C09AA02", "enalapril"), "10 mg twice a day"),
    (atc("C09AA03", "lisinopril"), "10 mg once a day"),
    (atc("C08CA01", "amlodipine"), "5 mg once a day"),
    (atc("C09CA01", "losartan"), "50 mg once a day"),
    (atc("C03BA11", "indapamide"), "1.5 mg once a day"),
    (atc("C07AB07", "bisoprolol"), "5 mg once a day"),
)
DIABETES_DRUGS = (
    (atc("A10BA02", "metformin"), "1000 mg twice a day"),
    (atc("A10BB09", "gliclazide"), "60 mg once a day"),
)
ACUTE_DRUGS: dict[str, tuple[tuple[Code, str], ...]] = {
    "J": (
        (atc("J01CA04", "amoxicillin"), "500 mg three times a day for 7 days"),
        (atc("J01FA10", "azithromycin"), "500 mg once a day for 3 days"),
        (atc("N02BE01", "paracetamol"), "500 mg up to four times a day when needed"),
    ),
    "H": ((atc("J01CA04", "amoxicillin"), "500 mg three times a day for 7 days"),),
    "K": ((atc("A02BC01", "omeprazole"), "20 mg once a day for 28 days"),),
    "M": ((atc("M01AE01", "ibuprofen"), "400 mg three times a day for 5 days"),),
    "N": ((atc("J01XE01", "nitrofurantoin"), "100 mg twice a day for 5 days"),),
    "A": ((atc("A07BA01", "medicinal charcoal"), "1 g three times a day for 3 days"),),
}
HOSPITAL_DRUG = (atc("J01DD04", "ceftriaxone"), "1 g intravenously once a day")

# Vaccines: CVX with the ATC code of the same product.
BCG = (Code(CVX, "19", "BCG"), atc("J07AN01", "tuberculosis, live attenuated"))
HEPB = (Code(CVX, "08", "Hep B, adolescent or pediatric"), atc("J07BC01", "hepatitis B, purified antigen"))
DTP = (
    Code(CVX, "01", "DTP"),
    atc("J07AJ52", "pertussis, inactivated, whole cell, combinations with toxoids"),
)
OPV = (Code(CVX, "02", "OPV"), atc("J07BF02", "poliomyelitis oral, trivalent, live attenuated"))
PENTAVALENT = (
    Code(CVX, "102", "DTP-Hib-Hep B"),
    atc("J07CA11", "diphtheria-hemophilus influenzae B-pertussis-tetanus-hepatitis B"),
)
HEXAVALENT = (
    Code(CVX, "146", "DTaP,IPV,Hib,HepB"),
    atc("J07CA09", "diphtheria-hemophilus influenzae B-pertussis-poliomyelitis-tetanus-hepatitis B"),
)
DTAP_IPV_HIB = (
    Code(CVX, "120", "DTaP-Hib-IPV"),
    atc("J07CA06", "diphtheria-hemophilus influenzae B-pertussis-poliomyelitis-tetanus"),
)
PCV = (
    Code(CVX, "133", "Pneumococcal conjugate PCV 13"),
    atc("J07AL02", "pneumococcus, purified polysaccharides antigen conjugated"),
)
MEASLES = (Code(CVX, "05", "measles"), atc("J07BD01", "measles, live attenuated"))
MMR = (
    Code(CVX, "03", "MMR"),
    atc("J07BD52", "measles, combinations with mumps and rubella, live attenuated"),
)
DT = (
    Code(CVX, "28", "DT (pediatric)"),
    atc("J07AM51", "tetanus toxoid, combinations with diphtheria toxoid"),
)
TD = (
    Code(CVX, "09", "Td (adult), adsorbed"),
    atc("J07AM51", "tetanus toxoid, combinations with diphtheria toxoid"),
)
COVID = (Code(CVX, "500", "COVID-19 Non-US Vaccine, Product Unknown"), atc("J07BX03", "covid-19 vaccines"))

# Practitioner specialties (SNOMED CT) and facility kinds.
SPECIALTIES = {
    "gp": Code(SNOMED, "394814009", "General practice"),
    "pediatrics": Code(SNOMED, "394537008", "Pediatric specialty"),
    "endocrinology": Code(SNOMED, "394583002", "Endocrinology"),
    "cardiology": Code(SNOMED, "394579002", "Cardiology"),
    "obstetrics": Code(SNOMED, "394585009", "Obstetrics and gynecology"),
    "internal": Code(SNOMED, "419192003", "Internal medicine"),
    "surgery": Code(SNOMED, "394609007", "Surgery-general"),
    "neonatology": Code(SNOMED, "408445005", "Neonatology"),
    "emergency": Code(SNOMED, "773568002", "Emergency medicine"),
    "pathology": Code(SNOMED, "394915009", "General pathology"),
}
FACILITY_KINDS = {
    "health-department": (Code(FACILITY_TYPE, "health-department", "Regional health department"), None),
    "polyclinic": (
        Code(FACILITY_TYPE, "polyclinic", "Polyclinic (primary health care)"),
        Code(ROLE_CODE, "PC", "Primary care clinic"),
    ),
    "hospital": (Code(FACILITY_TYPE, "hospital", "Hospital"), Code(ROLE_CODE, "HOSP", "Hospital")),
    "maternity": (
        Code(FACILITY_TYPE, "maternity", "Perinatal centre"),
        Code(ROLE_CODE, "OB", "Obstetrics clinic"),
    ),
    "ambulance": (Code(FACILITY_TYPE, "ambulance", "Ambulance station"), Code(ROLE_CODE, "AMB", "Ambulance")),
    "laboratory": (
        Code(FACILITY_TYPE, "laboratory", "Medical laboratory"),
        Code(ROLE_CODE, "MBL", "medical laboratory"),
    ),
}
ATTACHMENT = Code(EPISODE_TYPE, "attachment", "Attachment to a primary health care organisation")
DISPENSARY = Code(EPISODE_TYPE, "dispensary", "Dispensary observation of a chronic disease")
MOTHER = Code(RELATIONSHIP, "MTH", "mother")
