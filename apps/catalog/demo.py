"""Demo catalog for `manage.py seed_demo` (idempotent): facet vocabularies and about 65
listings of the four demo vendors, written through the catalog services so the audit log and
the event feed look like real use (vendor admins create and submit, the demo operator approves).

Deterministic: every varying detail comes from `random.Random(<listing slug>)`, so two runs on
two machines produce the same catalog. Listings whose slug exists are skipped.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils.text import slugify

from apps.catalog import services
from apps.catalog.models import Category, Listing, Modality, Specialty, Standard
from apps.organizations.models import MemberRole, Membership, Organization
from marketplace.principal import Principal, PrincipalKind, Role, operator_principal

OPERATOR_EMAIL = "operator@marketplace.example"  # created by apps/organizations/demo.py
DEMO_VENDORS = ("radiant-ai", "dosewise", "labinsight", "carebridge")

CATEGORIES = [
    ("radiology-ai", "Radiology AI", "Algorithms that detect, measure and prioritize findings in medical images."),
    ("cardiology", "Cardiology", "ECG, echo and cardiac imaging analysis, cardiac programs."),
    ("pathology", "Pathology", "Digital pathology viewing and whole-slide image analysis."),
    ("laboratory", "Laboratory", "Lab analytics, quality control and result validation."),
    ("oncology", "Oncology", "Cancer detection, staging, response assessment and follow-up."),
    ("operations", "Operations", "Workflow, capacity, logistics and department analytics."),
    ("remote-monitoring", "Remote monitoring", "Care at home with connected devices and patient-reported data."),
    ("dose-management", "Dose management", "Radiation dose monitoring, optimization and reporting."),
    ("clinical-decision-support", "Clinical decision support", "Alerts and recommendations at the point of care."),
]
SPECIALTIES = [
    ("radiology", "Radiology", ""),
    ("cardiology", "Cardiology", ""),
    ("oncology", "Oncology", ""),
    ("pathology", "Pathology", ""),
    ("neurology", "Neurology", ""),
    ("emergency-medicine", "Emergency medicine", ""),
    ("internal-medicine", "Internal medicine", ""),
    ("laboratory-medicine", "Laboratory medicine", ""),
]
MODALITIES = [
    ("ct", "CT", "Computed tomography"),
    ("mr", "MR", "Magnetic resonance imaging"),
    ("xr", "X-ray", "Projection radiography and fluoroscopy"),
    ("us", "Ultrasound", "Ultrasound and echocardiography"),
    ("mg", "Mammography", "Mammography and breast tomosynthesis"),
    ("pet", "PET", "Positron emission tomography"),
    ("ecg", "ECG", "Electrocardiography, Holter and wearable rhythm data"),
    ("wsi", "Whole-slide imaging", "Digitized pathology slides"),
    ("lab-analyzer", "Lab analyzer", "Results from clinical chemistry, hematology and other analyzers"),
]
STANDARDS = [
    ("fhir-r4", "FHIR R4", "HL7 Fast Healthcare Interoperability Resources, release 4"),
    ("dicom", "DICOM", "Digital Imaging and Communications in Medicine"),
    ("hl7-v2", "HL7 v2", "HL7 version 2 messaging (ADT, ORM, ORU)"),
    ("ihe-xds-i", "IHE XDS-I", "IHE Cross-Enterprise Document Sharing for Imaging"),
    ("ihe-aiw-i", "IHE AIW-I", "IHE AI Workflow for Imaging"),
    ("smart-on-fhir", "SMART on FHIR", "Apps launched from the EHR with OAuth2"),
    ("dicomweb", "DICOMweb", "DICOM over HTTP: QIDO-RS, WADO-RS, STOW-RS"),
]


@dataclass(frozen=True)
class Spec:
    vendor: str
    name: str
    tagline: str
    categories: tuple[str, ...]
    specialties: tuple[str, ...]
    modalities: tuple[str, ...]
    standards: tuple[str, ...]
    deploy: str  # cloud | onprem | onprem-gpu | hybrid | cloud+onprem
    pricing: str  # free | sub-eur | sub-usd | usage | quote, or two joined by "+"
    regulatory: str  # fda | mdr-iia | mdr-iib | fda+mdr-iia | fda+mdr-iib | ivdr-a/b/c | fda+ivdr-c | none
    status: str = Listing.Status.PUBLISHED


def _s(*values: str) -> tuple[str, ...]:
    return values


# fmt: off
SPECS: list[Spec] = [
    # --- Radiant AI: imaging AI --------------------------------------------------------------
    Spec("radiant-ai", "Radiant Lung Nodule CT", "Detects, measures and tracks pulmonary nodules on chest CT.",
         _s("radiology-ai", "oncology"), _s("radiology", "oncology"), _s("ct"),
         _s("dicom", "dicomweb", "ihe-aiw-i"), "hybrid", "sub-eur+quote", "fda+mdr-iib"),
    Spec("radiant-ai", "Radiant Stroke Triage", "Flags suspected large-vessel occlusion on CT angiography in minutes.",
         _s("radiology-ai", "clinical-decision-support"), _s("neurology", "emergency-medicine", "radiology"),
         _s("ct"), _s("dicom", "ihe-aiw-i", "hl7-v2"), "onprem-gpu", "quote", "fda"),
    Spec("radiant-ai", "Radiant ICH Detect", "Prioritizes non-contrast head CT with suspected intracranial hemorrhage.",
         _s("radiology-ai",), _s("neurology", "emergency-medicine"), _s("ct"), _s("dicom", "ihe-aiw-i"),
         "cloud", "usage", "fda+mdr-iia"),
    Spec("radiant-ai", "Radiant Fracture Finder", "Highlights suspected fractures on trauma radiographs.",
         _s("radiology-ai",), _s("radiology", "emergency-medicine"), _s("xr"), _s("dicom", "dicomweb"),
         "cloud", "sub-usd", "mdr-iia"),
    Spec("radiant-ai", "Radiant Chest X-ray Assist", "Twelve common findings on chest radiographs, ranked by urgency.",
         _s("radiology-ai", "clinical-decision-support"), _s("radiology", "internal-medicine"), _s("xr"),
         _s("dicom", "hl7-v2"), "cloud+onprem", "usage+sub-eur", "fda+mdr-iib"),
    Spec("radiant-ai", "Radiant Breast Density", "Automated, reproducible breast density assessment on mammograms.",
         _s("radiology-ai", "oncology"), _s("radiology", "oncology"), _s("mg"), _s("dicom",),
         "onprem", "sub-eur", "fda"),
    Spec("radiant-ai", "Radiant Mammo Second Reader", "An independent AI read for double-reading screening programs.",
         _s("radiology-ai", "oncology"), _s("radiology", "oncology"), _s("mg"), _s("dicom", "ihe-aiw-i"),
         "onprem-gpu", "quote", "fda+mdr-iib"),
    Spec("radiant-ai", "Radiant Prostate MR",
         "PI-RADS support with lesion segmentation on multiparametric prostate MR.",
         _s("radiology-ai", "oncology"), _s("radiology", "oncology"), _s("mr"), _s("dicom", "dicomweb"),
         "cloud", "usage", "mdr-iia"),
    Spec("radiant-ai", "Radiant Brain Volumetry", "Brain structure volumes against age-matched norms on 3D T1 MR.",
         _s("radiology-ai",), _s("neurology", "radiology"), _s("mr"), _s("dicom", "ihe-aiw-i"),
         "hybrid", "sub-eur", "fda+mdr-iia"),
    Spec("radiant-ai", "Radiant MS Lesion Tracker", "New and enlarging multiple-sclerosis lesions between MR visits.",
         _s("radiology-ai",), _s("neurology",), _s("mr"), _s("dicom",), "cloud", "sub-eur", "mdr-iia"),
    Spec("radiant-ai", "Radiant Pulmonary Embolism Alert", "Worklist alerts for suspected pulmonary embolism on CTPA.",
         _s("radiology-ai", "clinical-decision-support"), _s("radiology", "emergency-medicine"), _s("ct"),
         _s("dicom", "hl7-v2", "ihe-aiw-i"), "onprem-gpu", "sub-usd", "fda"),
    Spec("radiant-ai", "Radiant Coronary Calcium Score", "Agatston score from gated and non-gated chest CT.",
         _s("cardiology", "radiology-ai"), _s("cardiology", "radiology"), _s("ct"), _s("dicom",),
         "cloud", "usage", "fda"),
    Spec("radiant-ai", "Radiant Liver Segmentation", "Liver, segment and lesion volumes for surgical planning.",
         _s("radiology-ai", "oncology"), _s("radiology", "oncology"), _s("ct", "mr"), _s("dicom", "dicomweb"),
         "hybrid", "quote", "mdr-iia"),
    Spec("radiant-ai", "Radiant Worklist Prioritizer",
         "Orders the reading worklist by AI findings and clinical urgency.",
         _s("operations", "radiology-ai"), _s("radiology",), _s("ct", "mr", "xr"), _s("hl7-v2", "fhir-r4", "dicom"),
         "cloud", "sub-eur", "none"),
    Spec("radiant-ai", "Radiant Spine Labeler", "Automatic vertebra labeling and disc-level measurements.",
         _s("radiology-ai",), _s("radiology",), _s("ct", "mr"), _s("dicom",), "onprem", "free+sub-eur", "mdr-iia"),
    Spec("radiant-ai", "Radiant Bone Age", "Bone age from pediatric hand radiographs in seconds.",
         _s("radiology-ai",), _s("radiology",), _s("xr"), _s("dicom",), "cloud", "free", "mdr-iia"),
    Spec("radiant-ai", "Radiant Thyroid Ultrasound Assist",
         "TI-RADS characterization of thyroid nodules on ultrasound.",
         _s("radiology-ai", "oncology"), _s("radiology",), _s("us"), _s("dicom",), "cloud", "sub-usd", "fda"),
    Spec("radiant-ai", "Radiant PET Response Assessment", "Deauville and PERCIST response assessment on PET/CT.",
         _s("oncology", "radiology-ai"), _s("oncology", "radiology"), _s("pet", "ct"), _s("dicom", "dicomweb"),
         "onprem-gpu", "quote", "mdr-iib"),
    Spec("radiant-ai", "Radiant AI Orchestrator", "One gateway that routes studies to every imaging AI you run.",
         _s("operations",), _s("radiology",), _s("ct", "mr", "xr", "us", "mg"),
         _s("dicom", "dicomweb", "ihe-aiw-i", "hl7-v2", "fhir-r4"), "onprem", "quote", "none"),
    Spec("radiant-ai", "Radiant Structured Report Builder", "Pre-filled structured reports from AI results and priors.",
         _s("clinical-decision-support", "operations"), _s("radiology",), (), _s("fhir-r4", "smart-on-fhir", "hl7-v2"),
         "cloud", "sub-eur", "none"),
    Spec("radiant-ai", "Radiant Knee MR Cartilage", "Cartilage thickness maps and meniscal tear detection on knee MR.",
         _s("radiology-ai",), _s("radiology",), _s("mr"), _s("dicom",), "cloud", "usage", "mdr-iia",
         status=Listing.Status.DRAFT),
    # --- DoseWise: dose management --------------------------------------------------------------
    Spec("dosewise", "DoseWise Monitor", "Radiation dose monitoring across every modality and site.",
         _s("dose-management",), _s("radiology",), _s("ct", "xr", "mg", "pet"), _s("dicom", "ihe-xds-i", "hl7-v2"),
         "cloud+onprem", "sub-eur+quote", "mdr-iia"),
    Spec("dosewise", "DoseWise CT Protocol Optimizer", "Finds CT protocols that deliver more dose than they need.",
         _s("dose-management", "operations"), _s("radiology",), _s("ct"), _s("dicom",), "onprem", "quote", "none"),
    Spec("dosewise", "DoseWise Patient Dose Passport", "A patient's cumulative imaging dose, shared through FHIR.",
         _s("dose-management",), _s("radiology",), _s("ct", "xr"), _s("fhir-r4", "smart-on-fhir"),
         "cloud", "free", "none"),
    Spec("dosewise", "DoseWise Pediatric Dose Check", "Size-specific dose checks before pediatric CT and X-ray.",
         _s("dose-management", "clinical-decision-support"), _s("radiology",), _s("ct", "xr"), _s("dicom", "hl7-v2"),
         "onprem", "sub-eur", "mdr-iia"),
    Spec("dosewise", "DoseWise Interventional Skin Dose", "Peak skin dose maps for fluoroscopy-guided procedures.",
         _s("dose-management",), _s("cardiology", "radiology"), _s("xr"), _s("dicom",), "hybrid", "sub-usd", "fda"),
    Spec("dosewise", "DoseWise Mammography Dose Audit", "Mean glandular dose audits against national references.",
         _s("dose-management",), _s("radiology",), _s("mg"), _s("dicom",), "cloud", "sub-eur", "none"),
    Spec("dosewise", "DoseWise Nuclear Medicine Activity Tracker", "Administered activity tracking for PET and SPECT.",
         _s("dose-management",), _s("radiology", "oncology"), _s("pet"), _s("dicom", "hl7-v2"),
         "onprem", "quote", "none"),
    Spec("dosewise", "DoseWise Registry Export", "Diagnostic reference level submissions to national registries.",
         _s("dose-management", "operations"), _s("radiology",), _s("ct", "xr", "mg"), _s("dicom", "fhir-r4"),
         "cloud", "free", "none"),
    Spec("dosewise", "DoseWise Contrast Media Tracker", "Contrast agent use and reactions, per patient and protocol.",
         _s("operations", "dose-management"), _s("radiology",), _s("ct", "mr"), _s("hl7-v2", "fhir-r4"),
         "cloud", "usage", "none"),
    Spec("dosewise", "DoseWise Fleet Analytics", "Utilization, idle time and throughput of every scanner.",
         _s("operations",), _s("radiology",), _s("ct", "mr", "xr", "us"), _s("dicom", "hl7-v2"),
         "hybrid", "sub-eur", "none"),
    Spec("dosewise", "DoseWise Staff Dosimetry", "Occupational dose of staff, with alerts before limits.",
         _s("dose-management", "operations"), _s("radiology", "cardiology"), (), _s("fhir-r4",),
         "cloud", "sub-eur", "none"),
    Spec("dosewise", "DoseWise Physicist Workbench", "Quality assurance and acceptance testing for medical physicists.",
         _s("dose-management",), _s("radiology",), _s("ct", "xr", "mg"), _s("dicom",),
         "onprem", "free+sub-eur", "none"),
    Spec("dosewise", "DoseWise Dose Alerts for FHIR", "Dose notification values surfaced in the EHR at ordering time.",
         _s("dose-management", "clinical-decision-support"), _s("radiology", "emergency-medicine"), _s("ct"),
         _s("fhir-r4", "smart-on-fhir"), "cloud", "sub-usd", "none"),
    # --- LabInsight: laboratory and pathology ---------------------------------------------------
    Spec("labinsight", "LabInsight Sepsis Early Warning", "Sepsis risk from lab trends and vital signs, hours earlier.",
         _s("clinical-decision-support", "laboratory"),
         _s("internal-medicine", "emergency-medicine", "laboratory-medicine"), _s("lab-analyzer"),
         _s("hl7-v2", "fhir-r4", "smart-on-fhir"), "hybrid", "quote", "fda+mdr-iib"),
    Spec("labinsight", "LabInsight QC Sentinel", "Westgard rules and moving averages across every analyzer.",
         _s("laboratory", "operations"), _s("laboratory-medicine",), _s("lab-analyzer"), _s("hl7-v2",),
         "onprem", "sub-eur", "none"),
    Spec("labinsight", "LabInsight Autoverification",
         "Rule-based autoverification that releases normal results at once.",
         _s("laboratory",), _s("laboratory-medicine",), _s("lab-analyzer"), _s("hl7-v2", "fhir-r4"),
         "onprem", "sub-eur", "ivdr-b"),
    Spec("labinsight", "LabInsight Turnaround Dashboard", "Turnaround times from order to result, per test and ward.",
         _s("operations", "laboratory"), _s("laboratory-medicine",), _s("lab-analyzer"), _s("hl7-v2",),
         "cloud", "sub-eur", "none"),
    Spec("labinsight", "LabInsight Digital Pathology Viewer", "A fast, vendor-neutral viewer for whole-slide images.",
         _s("pathology",), _s("pathology",), _s("wsi"), _s("dicom", "dicomweb"), "hybrid", "free+sub-eur", "ivdr-a"),
    Spec("labinsight", "LabInsight Prostate Biopsy AI",
         "Gleason grading support and cancer detection on prostate biopsies.",
         _s("pathology", "oncology"), _s("pathology", "oncology"), _s("wsi"), _s("dicom",),
         "onprem-gpu", "quote", "fda+ivdr-c"),
    Spec("labinsight", "LabInsight Breast HER2 Scoring", "Reproducible HER2 immunohistochemistry scoring.",
         _s("pathology", "oncology"), _s("pathology", "oncology"), _s("wsi"), _s("dicom", "dicomweb"),
         "cloud", "usage", "ivdr-c"),
    Spec("labinsight", "LabInsight Mitosis Counter", "Mitotic figure detection and counts on H&E slides.",
         _s("pathology", "oncology"), _s("pathology",), _s("wsi"), _s("dicom",), "onprem-gpu", "sub-usd", "ivdr-b"),
    Spec("labinsight", "LabInsight Antimicrobial Stewardship",
         "Culture results and antibiotic orders, reviewed together.",
         _s("clinical-decision-support", "laboratory"), _s("internal-medicine", "laboratory-medicine"), (),
         _s("fhir-r4", "smart-on-fhir"), "cloud", "sub-eur", "mdr-iia"),
    Spec("labinsight", "LabInsight Anemia Pathway", "Reflex testing and work-up suggestions for anemia.",
         _s("laboratory", "clinical-decision-support"), _s("internal-medicine", "laboratory-medicine"),
         _s("lab-analyzer"), _s("fhir-r4", "smart-on-fhir"), "cloud", "free", "mdr-iia"),
    Spec("labinsight", "LabInsight Kidney Function Trends", "eGFR and albuminuria trends that flag declining kidneys.",
         _s("laboratory", "clinical-decision-support"), _s("internal-medicine",), _s("lab-analyzer"), _s("fhir-r4",),
         "cloud", "usage", "none"),
    Spec("labinsight", "LabInsight Tumor Marker Tracker", "Tumor marker kinetics across treatment lines.",
         _s("oncology", "laboratory"), _s("oncology", "laboratory-medicine"), _s("lab-analyzer"),
         _s("hl7-v2", "fhir-r4"), "hybrid", "sub-eur", "ivdr-b"),
    Spec("labinsight", "LabInsight Reference Interval Studio",
         "Derive and verify reference intervals from your own data.",
         _s("laboratory",), _s("laboratory-medicine",), _s("lab-analyzer"), _s("hl7-v2",), "onprem", "free", "none"),
    Spec("labinsight", "LabInsight Sample Logistics", "Track every tube from draw to analyzer.",
         _s("operations", "laboratory"), _s("laboratory-medicine",), (), _s("hl7-v2", "fhir-r4"),
         "cloud", "sub-usd", "none"),
    Spec("labinsight", "LabInsight Cytology Triage", "Ranks cervical cytology slides by likelihood of abnormality.",
         _s("pathology",), _s("pathology",), _s("wsi"), _s("dicom",), "cloud", "usage", "ivdr-b",
         status=Listing.Status.IN_REVIEW),
    Spec("labinsight", "LabInsight Frozen Section Remote Review",
         "Intra-operative frozen sections reviewed from anywhere.",
         _s("pathology", "operations"), _s("pathology",), _s("wsi"), _s("dicomweb", "dicom"),
         "hybrid", "quote", "none"),
    # --- CareBridge Remote: remote monitoring and cardiology -----------------------------------
    Spec("carebridge", "CareBridge Heart Failure Monitoring", "Weight, symptoms and rhythm at home, triaged by nurses.",
         _s("remote-monitoring", "cardiology"), _s("cardiology", "internal-medicine"), _s("ecg"),
         _s("fhir-r4", "hl7-v2"), "cloud", "sub-eur", "mdr-iia"),
    Spec("carebridge", "CareBridge ECG Rhythm Analysis",
         "Automated rhythm classification of 12-lead and single-lead ECGs.",
         _s("cardiology", "clinical-decision-support"), _s("cardiology",), _s("ecg"), _s("hl7-v2", "fhir-r4"),
         "cloud", "usage", "fda+mdr-iia"),
    Spec("carebridge", "CareBridge Atrial Fibrillation Screening",
         "Opportunistic AF screening from wearable ECG strips.",
         _s("cardiology", "remote-monitoring"), _s("cardiology",), _s("ecg"), _s("fhir-r4",),
         "cloud", "sub-usd", "fda"),
    Spec("carebridge", "CareBridge COPD Home Care", "Spirometry, oximetry and symptom diaries for COPD patients.",
         _s("remote-monitoring",), _s("internal-medicine",), (), _s("fhir-r4",), "cloud", "sub-eur", "mdr-iia"),
    Spec("carebridge", "CareBridge Diabetes Companion", "Glucose data and coaching between clinic visits.",
         _s("remote-monitoring",), _s("internal-medicine",), (), _s("fhir-r4", "smart-on-fhir"),
         "cloud", "free+sub-eur", "mdr-iia"),
    Spec("carebridge", "CareBridge Post-Discharge Check-ins", "Automated check-ins in the 30 days after discharge.",
         _s("remote-monitoring", "operations"), _s("internal-medicine",), (), _s("fhir-r4", "hl7-v2"),
         "cloud", "sub-eur", "none"),
    Spec("carebridge", "CareBridge Hypertension Program", "Home blood pressure readings with titration prompts.",
         _s("remote-monitoring", "cardiology"), _s("cardiology", "internal-medicine"), (), _s("fhir-r4",),
         "cloud", "sub-usd", "mdr-iia"),
    Spec("carebridge", "CareBridge Oncology Symptom Tracker", "Patient-reported outcomes during chemotherapy.",
         _s("remote-monitoring", "oncology"), _s("oncology",), (), _s("fhir-r4", "smart-on-fhir"),
         "cloud", "sub-eur", "mdr-iia"),
    Spec("carebridge", "CareBridge Holter Reader", "Fast review of 24-hour to 14-day Holter recordings.",
         _s("cardiology",), _s("cardiology",), _s("ecg"), _s("hl7-v2", "dicom"), "onprem", "quote", "fda"),
    Spec("carebridge", "CareBridge Virtual Ward", "Hospital-level care at home: vitals, escalation, rounds.",
         _s("remote-monitoring", "operations"), _s("internal-medicine", "emergency-medicine"), _s("ecg"),
         _s("fhir-r4", "hl7-v2", "smart-on-fhir"), "hybrid", "quote", "mdr-iib"),
    Spec("carebridge", "CareBridge Device Hub", "One on-site hub for home and bedside devices.",
         _s("remote-monitoring", "operations"), _s("internal-medicine",), (), _s("fhir-r4", "hl7-v2"),
         "onprem", "free", "none"),
    Spec("carebridge", "CareBridge Cardiac Rehab Coach", "Home-based cardiac rehabilitation with activity tracking.",
         _s("cardiology", "remote-monitoring"), _s("cardiology",), _s("ecg"), _s("fhir-r4",),
         "cloud", "sub-eur", "none"),
    Spec("carebridge", "CareBridge Pacemaker Remote Follow-up",
         "Device interrogations from every manufacturer, one list.",
         _s("cardiology", "remote-monitoring"), _s("cardiology",), _s("ecg"), _s("hl7-v2", "fhir-r4"),
         "hybrid", "sub-usd", "fda"),
    Spec("carebridge", "CareBridge Pediatric Asthma Watch", "Inhaler use and peak flow for children with asthma.",
         _s("remote-monitoring",), _s("internal-medicine",), (), _s("fhir-r4",), "cloud", "usage", "none",
         status=Listing.Status.IN_REVIEW),
    Spec("carebridge", "CareBridge Capacity Planner", "Bed and staffing forecasts for the next 72 hours.",
         _s("operations",), _s("emergency-medicine", "internal-medicine"), (), _s("hl7-v2", "fhir-r4"),
         "cloud", "sub-eur", "none"),
    Spec("carebridge", "CareBridge Echo Measurements", "Ejection fraction and chamber measurements from echo clips.",
         _s("cardiology", "radiology-ai"), _s("cardiology",), _s("us"), _s("dicom", "dicomweb"),
         "onprem-gpu", "sub-usd", "fda+mdr-iia"),
]
# fmt: on

VENDOR_CERTIFICATIONS = {
    "radiant-ai": ["ISO 27001", "ISO 13485", "SOC 2 Type II"],
    "dosewise": ["ISO 27001", "ISO 13485", "NEN 7510"],
    "labinsight": ["ISO 27001", "ISO 13485", "ISO 15189 (partner lab)"],
    "carebridge": ["ISO 27001", "Cyber Essentials Plus", "DSPT"],
}
VENDOR_REGIONS = {
    "radiant-ai": ["eu-central", "eu-west"],
    "dosewise": ["eu-west"],
    "labinsight": ["eu-central", "ch-north"],
    "carebridge": ["uk-south", "eu-west"],
}
FEATURES = {
    "radiology-ai": [
        "Results in PACS as a DICOM secondary capture and a structured report",
        "Confidence scores and heat maps for every finding",
        "Runs on every study automatically; no extra clicks for the radiologist",
        "Validated on multi-vendor, multi-site data",
        "Measurements and follow-up tracking against prior studies",
        "Sends urgent findings to the worklist within minutes",
    ],
    "cardiology": [
        "Works with 12-lead, Holter and single-lead wearable recordings",
        "Measurements editable by the cardiologist before sign-off",
        "Trends per patient across visits",
        "Alerts routed to the on-call team",
    ],
    "pathology": [
        "Opens gigapixel slides in under a second",
        "Region-level overlays the pathologist can accept or reject",
        "Supports the major scanner formats and DICOM WSI",
        "Case-level summary for the sign-out report",
    ],
    "laboratory": [
        "Reads results straight from the middleware over HL7 v2",
        "Rules versioned and auditable for accreditation",
        "Dashboards per analyzer, test and shift",
        "Works with the LIS you already run",
    ],
    "oncology": [
        "Lesion tracking across treatment lines",
        "Response criteria computed consistently",
        "Tumor board summaries in one click",
    ],
    "operations": [
        "Live dashboards for managers and team leads",
        "Exports to the hospital data warehouse",
        "Role-based access for every site",
        "Alerts when targets slip",
    ],
    "remote-monitoring": [
        "Connects to certified home devices over Bluetooth and cellular gateways",
        "Nurse triage queue ranked by risk",
        "Patient app in twelve languages",
        "Escalation rules agreed with your clinicians",
    ],
    "dose-management": [
        "Collects RDSR and MPPS from every modality",
        "Alerts above local and national reference levels",
        "Reports for the medical physics expert and the regulator",
        "Protocol comparison across sites",
    ],
    "clinical-decision-support": [
        "Launches inside the EHR with SMART on FHIR",
        "Explains every recommendation with its inputs",
        "Alert fatigue kept low with tunable thresholds",
    ],
}
PURPOSES = {
    "radiology-ai": (
        "to assist trained clinicians in the detection, measurement and prioritization of findings in {mods}"
    ),
    "cardiology": "to support clinicians in the analysis of cardiac data ({mods})",
    "pathology": "to assist pathologists in the review of digitized histopathology slides",
    "laboratory": "to support laboratory professionals in the review and release of laboratory results",
    "oncology": "to support oncology teams in the assessment of disease and response to treatment",
    "operations": "to give hospital managers operational insight",
    "remote-monitoring": "to support care teams in monitoring patients at home",
    "dose-management": "to record, analyze and report radiation exposure from medical imaging",
    "clinical-decision-support": "to provide clinicians with patient-specific recommendations",
}
RELEASE_NOTES = [
    "Improved sensitivity on studies from older scanners.",
    "Faster processing: median time to result down by a third.",
    "New German, French and Dutch user interface translations.",
    "Results now also delivered as FHIR DiagnosticReport.",
    "Support for single sign-on with SAML 2.0 and OpenID Connect.",
    "Fixed: series with missing slice spacing are skipped with a clear message.",
    "Audit log export for the data protection officer.",
    "Updated third-party components (see the SBOM).",
    "Configurable thresholds per site.",
    "Dark mode for reading rooms.",
]
STANDARD_NAMES = {slug: name for slug, name, _ in STANDARDS}
MODALITY_NAMES = {slug: description for slug, _, description in MODALITIES}


# --- a small, valid PDF -------------------------------------------------------------------------


def _pdf_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace("(", "\\(")
        .replace(")", "\\)")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def demo_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with a title and lines of text (Helvetica), with a correct xref table."""
    text = ["BT", "/F1 16 Tf", "56 780 Td", f"({_pdf_text(title)}) Tj", "/F1 10 Tf", "0 -28 Td"]
    for line in lines:
        text += [f"({_pdf_text(line)}) Tj", "0 -14 Td"]
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# --- building one listing -----------------------------------------------------------------------


def _modalities_text(spec: Spec) -> str:
    return ", ".join(MODALITY_NAMES[m] for m in spec.modalities) or "clinical data"


def _description(spec: Spec, rng: random.Random) -> str:
    pool: list[str] = []
    for category in spec.categories:
        pool += [f for f in FEATURES[category] if f not in pool]
    features = rng.sample(pool, k=min(len(pool), rng.choice((3, 4))))
    standards = ", ".join(STANDARD_NAMES[s] for s in spec.standards) or "CSV export"
    deploy = {
        "cloud": "Runs in our cloud; your site connects through a secure, outbound-only gateway.",
        "onprem": "Installs inside your network on a standard server; no internet connection needed.",
        "onprem-gpu": "Installs inside your network on a GPU server; works fully air-gapped.",
        "hybrid": "A small on-site gateway prepares the data; processing runs in our cloud.",
        "cloud+onprem": "Choose our cloud or an installation inside your own network.",
    }[spec.deploy]
    return "\n".join(
        [
            f"**{spec.name}**: {spec.tagline[0].lower()}{spec.tagline[1:]}",
            "",
            "## What it does",
            "",
            *[f"- {feature}" for feature in features],
            "",
            "## How it fits in",
            "",
            f"Standards: {standards}. {deploy}",
            "",
            "## Evidence",
            "",
            f"Evaluated at {rng.randint(3, 14)} sites on {rng.randint(4, 60) * 1000:,} cases; "
            "the clinical evaluation report is available on request.",
        ]
    )


def _intended_use(spec: Spec) -> str:
    purpose = PURPOSES[spec.categories[0]].format(mods=_modalities_text(spec))
    if spec.regulatory == "none":
        return (
            f"{spec.name} is intended {purpose}. It is not a medical device: it does not diagnose, "
            "treat or inform clinical decisions about individual patients."
        )
    return (
        f"{spec.name} is intended {purpose}. It is intended for use by qualified healthcare "
        "professionals in hospitals and clinics and does not replace their judgement; every result is "
        "reviewed by a clinician before it informs care. Not intended for use in children under 18 unless "
        "the instructions for use say otherwise."
    )


def _clearances(spec: Spec, rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def day() -> str:
        return (datetime.date(2019, 1, 1) + datetime.timedelta(days=rng.randint(0, 6 * 365))).isoformat()

    for part in spec.regulatory.split("+"):
        if part == "fda":
            out.append(
                {
                    "authority": "fda",
                    "device_class": "II",
                    "identifier": f"K{rng.randint(190000, 253999)}",
                    "cleared_on": day(),
                }
            )
        elif part.startswith("mdr-"):
            out.append(
                {
                    "authority": "eu_mdr",
                    "device_class": "IIa" if part == "mdr-iia" else "IIb",
                    "identifier": f"MDR {rng.randint(700000, 799999)}",
                    "cleared_on": day(),
                }
            )
        elif part.startswith("ivdr-"):
            out.append(
                {
                    "authority": "eu_ivdr",
                    "device_class": part[-1].upper(),
                    "identifier": f"IVDR {rng.randint(100000, 199999)}" if part != "ivdr-a" else "",
                    "cleared_on": day(),
                }
            )
    return out


def _listing_data(spec: Spec, slug: str, index: int, rng: random.Random) -> dict[str, Any]:
    clinical = spec.regulatory != "none" or "remote-monitoring" in spec.categories
    cloud = spec.deploy in ("cloud", "hybrid", "cloud+onprem")
    processes = clinical or "dose-management" in spec.categories
    deidentifies = (processes and spec.deploy == "hybrid") or (
        processes and cloud and bool(set(spec.categories) & {"radiology-ai", "pathology"}) and index % 2 == 0
    )
    residency = []
    if cloud:
        residency = ["EU", *(["US"] if "fda" in spec.regulatory else [])]
        residency += ["UK"] if spec.vendor == "carebridge" else []
    certifications = VENDOR_CERTIFICATIONS[spec.vendor][: 1 + index % 3]
    return {
        "slug": slug,
        "name": spec.name,
        "tagline": spec.tagline,
        "description": _description(spec, rng),
        "intended_use": _intended_use(spec),
        "categories": list(spec.categories),
        "specialties": list(spec.specialties),
        "modalities": list(spec.modalities),
        "standards": list(spec.standards),
        "processes_patient_data": processes,
        "deidentified_before_leaving_site": deidentifies,
        "data_residency": residency,
        "security_certifications": certifications,
        "support_email": f"support@{spec.vendor}.example",
        "support_url": f"https://{spec.vendor}.example/support/{slug}",
        "clearances": _clearances(spec, rng),
    }


def _offerings(spec: Spec, rng: random.Random) -> list[dict[str, Any]]:
    regions = VENDOR_REGIONS[spec.vendor] + (["us-east"] if "fda" in spec.regulatory else [])
    cloud = {"mode": "cloud", "name": "Cloud", "regions": regions}
    os_name = rng.choice(("Ubuntu 22.04 LTS", "Red Hat Enterprise Linux 9", "Windows Server 2022"))
    onprem = {
        "mode": "on_premise",
        "name": "On-premise server",
        "requirement_os": os_name,
        "requirement_cpu_cores": rng.choice((4, 8)),
        "requirement_memory_gb": rng.choice((16, 32)),
        "requirement_disk_gb": rng.choice((200, 500, 1000)),
    }
    gpu = {
        **onprem,
        "name": "On-premise GPU server",
        "requirement_os": "Ubuntu 22.04 LTS",
        "requirement_cpu_cores": 16,
        "requirement_memory_gb": 64,
        "requirement_gpu": rng.choice(("NVIDIA T4 16 GB or better", "NVIDIA A10 24 GB or better", "NVIDIA L4 24 GB")),
        "requirement_disk_gb": 1000,
    }
    hybrid = {
        "mode": "hybrid",
        "name": "Hybrid: on-site gateway with cloud processing",
        "regions": regions[:1],
        "requirement_os": "Ubuntu 22.04 LTS or any OCI container runtime",
        "requirement_cpu_cores": 4,
        "requirement_memory_gb": 8,
        "requirement_disk_gb": 200,
    }
    return {
        "cloud": [cloud],
        "onprem": [onprem],
        "onprem-gpu": [gpu],
        "hybrid": [hybrid],
        "cloud+onprem": [cloud, onprem],
    }[spec.deploy]


def _usage_unit(spec: Spec) -> str:
    if "wsi" in spec.modalities:
        return "slide"
    if "ecg" in spec.modalities and "remote-monitoring" not in spec.categories:
        return "recording"
    if "remote-monitoring" in spec.categories or "laboratory" in spec.categories:
        return "patient-month"
    return "study"


def _plans(spec: Spec, offering_mode: str, index: int, rng: random.Random) -> list[dict[str, Any]]:
    plans: list[dict[str, Any]] = []
    cloud = offering_mode == "cloud"
    for kind in spec.pricing.split("+"):
        if kind == "free":
            plans.append({"name": "Community", "pricing_model": "free", "trial_days": 0})
        elif kind.startswith("sub-"):
            currency = kind[-3:].upper()
            monthly = Decimal(rng.choice((290, 450, 690, 990, 1490, 2400)))
            trial = rng.choice((14, 30))
            auto = cloud and index % 3 != 1
            plans.append(
                {
                    "name": "Standard (monthly)",
                    "pricing_model": "subscription",
                    "price": monthly,
                    "currency": currency,
                    "billing_period": "month",
                    "trial_days": trial,
                    "trial_auto_approve": auto,
                }
            )
            plans.append(
                {
                    "name": "Standard (yearly)",
                    "pricing_model": "subscription",
                    "price": monthly * 10,
                    "currency": currency,
                    "billing_period": "year",
                    "trial_days": trial,
                    "trial_auto_approve": auto,
                }
            )
        elif kind == "usage":
            unit = _usage_unit(spec)
            price = Decimal(rng.choice(("1.90", "3.50", "4.80", "7.00", "12.00")))
            plans.append(
                {
                    "name": f"Pay per {unit}",
                    "pricing_model": "usage",
                    "price": price,
                    "currency": "USD" if "fda" in spec.regulatory and index % 2 else "EUR",
                    "usage_unit": unit,
                    "trial_days": 14,
                    "trial_auto_approve": cloud and index % 2 == 0,
                }
            )
        elif kind == "quote":
            plans.append(
                {
                    "name": "Enterprise",
                    "pricing_model": "quote_only",
                    "trial_days": 30 if offering_mode != "cloud" and index % 2 == 0 else 0,
                }
            )
    return plans


def _versions(rng: random.Random) -> list[dict[str, Any]]:
    count = rng.choice((1, 2, 2, 3))
    major = rng.choice((1, 2, 3))
    released = datetime.date(2024, 1, 15) + datetime.timedelta(days=rng.randint(0, 200))
    versions = []
    for step in range(count):
        notes = rng.sample(RELEASE_NOTES, k=2)
        version = f"{major}.{step}.0" if step < 2 else f"{major + 1}.0.0"
        body = "First release on the marketplace." if step == 0 else "\n".join(f"- {note}" for note in notes)
        versions.append({"version": version, "release_notes": body, "released_on": released})
        released += datetime.timedelta(days=rng.randint(60, 180))
    return versions


def _documents(spec: Spec, index: int) -> list[tuple[str, str, str]]:
    """(kind, title, visibility) for about a third of the listings."""
    if index % 3:
        return []
    documents = [("ifu", f"{spec.name}: instructions for use", "public")]
    if "dicom" in spec.standards:
        documents.append(("dicom_conformance", f"{spec.name}: DICOM conformance statement", "public"))
    if spec.regulatory != "none":
        documents.append(("mds2", f"{spec.name}: MDS2 security form", "on_request"))
    return documents


# --- the demo -----------------------------------------------------------------------------------


def _vocabularies() -> None:
    vocabularies = ((Category, CATEGORIES), (Specialty, SPECIALTIES), (Modality, MODALITIES), (Standard, STANDARDS))
    for model, rows in vocabularies:
        for slug, name, description in rows:
            model.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})


def _vendor_admin(vendor: Organization) -> Principal:
    membership = (
        Membership.objects.select_related("user")
        .filter(organization=vendor, role=MemberRole.ADMIN)
        .order_by("id")
        .first()
    )
    if membership is None:
        raise RuntimeError(f"The demo vendor {vendor.slug} has no admin; run apps.organizations.demo.seed_demo.")
    return Principal(
        kind=PrincipalKind.MEMBER,
        label=membership.user.email,
        organization=vendor,
        role=Role.ADMIN,
        user=membership.user,
    )


def _seed_listing(spec: Spec, index: int, vendor_actor: Principal, operator: Principal) -> None:
    slug = slugify(spec.name)
    rng = random.Random(slug)  # noqa: S311 - demo content, not security
    vendor = vendor_actor.organization
    listing = services.listing_create(vendor=vendor, actor=vendor_actor, data=_listing_data(spec, slug, index, rng))
    for offering_data in _offerings(spec, rng):
        offering = services.offering_create(listing=listing, actor=vendor_actor, data=offering_data)
        for plan_data in _plans(spec, offering.mode, index, rng):
            services.plan_create(offering=offering, actor=vendor_actor, data=plan_data)
    for version_data in _versions(rng):
        services.version_create(listing=listing, actor=vendor_actor, data=version_data)
    for kind, title, visibility in _documents(spec, index):
        lines = [
            f"Manufacturer: {vendor.name}",
            f"Product: {spec.name}",
            f"Document: {title}",
            "This is demo content generated for the marketplace; it is not a real regulatory document.",
        ]
        upload = SimpleUploadedFile(f"{slug}-{kind}.pdf", demo_pdf(title, lines), content_type="application/pdf")
        services.document_add(
            listing=listing, actor=vendor_actor, kind=kind, title=title, visibility=visibility, upload=upload
        )
    if spec.status == Listing.Status.DRAFT:
        return
    services.listing_submit(listing=listing, actor=vendor_actor)
    if spec.status == Listing.Status.PUBLISHED:
        services.listing_approve(listing=listing, actor=operator)


def seed_catalog_demo() -> int:
    """Load the demo catalog (safe to run again: listings whose slug exists are skipped).

    Needs the demo organizations (apps/organizations/demo.py); loads them when they are
    missing. Returns how many of the demo vendors' listings are published."""
    from apps.accounts.models import User
    from apps.organizations.demo import seed_demo

    if Organization.objects.filter(slug__in=DEMO_VENDORS).count() < len(DEMO_VENDORS):
        seed_demo()
    with transaction.atomic():
        _vocabularies()
        operator = operator_principal(User.objects.get(email=OPERATOR_EMAIL))
        vendors = {vendor.slug: vendor for vendor in Organization.objects.filter(slug__in=DEMO_VENDORS)}
        actors = {slug: _vendor_admin(vendor) for slug, vendor in vendors.items()}
        existing = set(Listing.objects.filter(slug__in=[slugify(s.name) for s in SPECS]).values_list("slug", flat=True))
        for index, spec in enumerate(SPECS):
            if slugify(spec.name) not in existing:
                _seed_listing(spec, index, actors[spec.vendor], operator)
    return Listing.objects.filter(vendor__slug__in=DEMO_VENDORS, status=Listing.Status.PUBLISHED).count()
