// The SMART Health Links viewer: decodes the link in the page's fragment, asks the pod for the
// manifest, and decrypts each file here in the browser (WebCrypto, AES-GCM); the key never
// leaves the page. Nothing third-party.
"use strict";

// English, or Swedish for a browser set to it (or ?lang=sv).
const TEXTS = {
  en: {
    title: "Shared health summary",
    name: "Your name",
    passcode: "Passcode",
    open: "Open",
    opening: "Opening…",
    needLink: "This page needs a SMART Health Link after the #.",
    expired: "This link has expired. Ask the person who shared it for a new one.",
    wrong: "The passcode is wrong. Attempts left:",
    invalid: "This link is not valid: it is unknown, expired or revoked.",
    noName: "Name not shared",
    born: "born",
    sections: {},
    empty: {
      withheld: "Not shared through this link.",
      unavailable: "Nothing recorded in the shared data.",
      nilknown: "None known.",
    },
  },
  sv: {
    title: "Delad hälsosammanfattning",
    name: "Ditt namn",
    passcode: "Lösenkod",
    open: "Öppna",
    opening: "Öppnar…",
    needLink: "Sidan behöver en SMART Health Link efter #.",
    expired: "Länken har gått ut. Be den som delade den om en ny.",
    wrong: "Fel lösenkod. Försök kvar:",
    invalid: "Länken gäller inte: den är okänd, har gått ut eller har återkallats.",
    noName: "Namnet delas inte",
    born: "född",
    sections: {
      "11450-4": "Problemlista",
      "10160-0": "Läkemedel",
      "48765-2": "Allergier och intoleranser",
      "11369-6": "Vaccinationer",
      "47519-4": "Åtgärder",
      "30954-2": "Provsvar",
      "8716-3": "Vitalparametrar",
      "29762-2": "Levnadsvanor",
    },
    empty: {
      withheld: "Delas inte genom den här länken.",
      unavailable: "Inget registrerat i de delade uppgifterna.",
      nilknown: "Inga kända.",
    },
  },
};
const LANG =
  new URLSearchParams(location.search).get("lang") === "sv" ||
  (!new URLSearchParams(location.search).get("lang") && navigator.language.startsWith("sv"))
    ? "sv"
    : "en";
const T = TEXTS[LANG];

function b64urlBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const raw = atob(b64);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function payloadOf(hash) {
  const at = hash.indexOf("shlink:/");
  if (at < 0) throw new Error(T.needLink);
  return JSON.parse(new TextDecoder().decode(b64urlBytes(hash.slice(at + 8))));
}

async function decrypt(compact, key) {
  const [protectedHeader, encryptedKey, iv, ciphertext, tag] = compact.split(".");
  const header = JSON.parse(new TextDecoder().decode(b64urlBytes(protectedHeader)));
  if (header.alg !== "dir" || header.enc !== "A256GCM" || encryptedKey !== "") {
    throw new Error("The file is not encrypted as a SMART Health Link's file is.");
  }
  const cryptoKey = await crypto.subtle.importKey("raw", b64urlBytes(key), "AES-GCM", false, [
    "decrypt",
  ]);
  const body = new Uint8Array([...b64urlBytes(ciphertext), ...b64urlBytes(tag)]);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: b64urlBytes(iv), additionalData: new TextEncoder().encode(protectedHeader) },
    cryptoKey,
    body,
  );
  return JSON.parse(new TextDecoder().decode(plain));
}

function codeText(concept) {
  if (!concept) return "";
  if (concept.text) return concept.text;
  const coding = (concept.coding || [])[0] || {};
  return coding.display || coding.code || "";
}

function valueText(r) {
  if (r.valueQuantity) return `${r.valueQuantity.value} ${r.valueQuantity.unit || ""}`.trim();
  if (r.valueCodeableConcept) return codeText(r.valueCodeableConcept);
  if (r.component) {
    return r.component
      .map((c) => (c.valueQuantity ? `${c.valueQuantity.value}` : ""))
      .filter(Boolean)
      .join("/");
  }
  return "";
}

function when(r) {
  return (
    r.effectiveDateTime ||
    (r.effectivePeriod && r.effectivePeriod.start) ||
    r.onsetDateTime ||
    r.occurrenceDateTime ||
    r.recordedDate ||
    r.authoredOn ||
    ""
  ).slice(0, 10);
}

function line(r, byRef) {
  const medication = r.medicationReference && byRef.get(r.medicationReference.reference);
  const what =
    codeText(r.code || r.vaccineCode || r.medicationCodeableConcept) ||
    (medication && codeText(medication.code)) ||
    (r.medicationReference && r.medicationReference.display) ||
    r.resourceType;
  return [when(r), what, valueText(r)].filter(Boolean).join(" · ");
}

function show(bundle) {
  const summary = document.getElementById("summary");
  const byRef = new Map();
  for (const entry of bundle.entry || []) {
    // References are fullUrls (urn:uuid:); Type/id is kept for documents that use it.
    const r = entry.resource;
    byRef.set(`${r.resourceType}/${r.id}`, r);
    if (entry.fullUrl) byRef.set(entry.fullUrl, r);
  }
  const resources = (bundle.entry || []).map((entry) => entry.resource);
  const patient = resources.find((r) => r.resourceType === "Patient");
  const who = document.createElement("h2");
  who.textContent = (patient && patient.name && patient.name[0].text) || T.noName;
  if (patient && patient.birthDate) who.textContent += ` (${T.born} ${patient.birthDate})`;
  summary.append(who);
  const composition = resources.find((r) => r.resourceType === "Composition");
  for (const section of (composition && composition.section) || []) {
    const h = document.createElement("h3");
    const code = ((section.code || {}).coding || [{}])[0].code;
    h.textContent = T.sections[code] || section.title;
    if (section.emptyReason) {
      // An empty section says why: not shared, or nothing recorded.
      const why = document.createElement("p");
      why.className = "empty-reason";
      const reason = ((section.emptyReason.coding || [])[0] || {}).code;
      why.textContent = T.empty[reason] || section.emptyReason.text || codeText(section.emptyReason);
      summary.append(h, why);
      continue;
    }
    const list = document.createElement("ul");
    for (const ref of section.entry || []) {
      const r = byRef.get(ref.reference);
      if (!r) continue;
      const item = document.createElement("li");
      item.textContent = line(r, byRef);
      list.append(item);
    }
    summary.append(h, list);
  }
}

async function fetchFiles(payload, recipient, passcode) {
  if ((payload.flag || "").includes("U")) {
    const got = await fetch(`${payload.url}?recipient=${encodeURIComponent(recipient)}`);
    if (!got.ok) return { status: got.status };
    return { files: [await got.text()] };
  }
  const body = { recipient };
  if (passcode) body.passcode = passcode;
  const answer = await fetch(payload.url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!answer.ok) return { status: answer.status, body: await answer.json().catch(() => ({})) };
  const manifest = await answer.json();
  const files = [];
  for (const f of manifest.files) {
    files.push(f.embedded || (await (await fetch(f.location)).text()));
  }
  return { files };
}

async function start() {
  document.documentElement.lang = LANG;
  for (const element of document.querySelectorAll("[data-t]")) {
    element.textContent = T[element.dataset.t];
  }
  document.title = T.title;
  const message = document.getElementById("message");
  let payload;
  try {
    payload = payloadOf(location.hash);
  } catch (error) {
    message.textContent = error.message;
    return;
  }
  if (payload.label) document.getElementById("label").textContent = payload.label;
  if (payload.exp && payload.exp * 1000 < Date.now()) {
    message.textContent = T.expired;
    return;
  }
  const form = document.getElementById("open");
  document.getElementById("passcode-row").hidden = !(payload.flag || "").includes("P");
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = T.opening;
    const recipient = document.getElementById("recipient").value.trim();
    const passcode = document.getElementById("passcode").value;
    const got = await fetchFiles(payload, recipient, passcode);
    if (got.status === 401) {
      message.textContent = `${T.wrong} ${got.body.remainingAttempts}.`;
      return;
    }
    if (got.status) {
      message.textContent = T.invalid;
      return;
    }
    form.hidden = true;
    message.textContent = "";
    for (const file of got.files) show(await decrypt(file, payload.key));
  });
}

start();
