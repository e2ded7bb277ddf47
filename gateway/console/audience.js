// Pure helpers of the campaign form: CSV ids, the AudienceInput, dates, which field an error concerns.

export const MAX_IDS = 100_000;

const HEADER = /^(?:participant|customer)?[\s_-]?ids?$/i;

/**
 * Participant ids from a CSV file's text: one per line or the first column, a header
 * line optional (`id`, `participantId`, `customer_id`, ...), quotes and blanks dropped,
 * duplicates counted once. Throws an Error past MAX_IDS ids.
 */
export function parseIds(text) {
  const seen = new Set();
  let lines = 0;
  let header = false;
  for (const line of text.split(/\r\n|\n|\r/)) {
    let cell = line.split(/[,;\t]/, 1)[0].trim();
    if (cell.length >= 2 && cell.startsWith('"') && cell.endsWith('"')) cell = cell.slice(1, -1).replaceAll('""', '"').trim();
    if (!cell) continue;
    lines += 1;
    if (lines === 1 && HEADER.test(cell)) {
      header = true;
      continue;
    }
    seen.add(cell);
    if (seen.size > MAX_IDS) {
      throw new Error(`the file holds more than ${MAX_IDS.toLocaleString("en")} participant ids`);
    }
  }
  const rows = lines - (header ? 1 : 0);
  return { ids: [...seen], rows, duplicates: rows - seen.size, header };
}

/** The start of a local calendar day (`YYYY-MM-DD`), as an ISO instant. */
export function startOfDay(value) {
  const [year, month, day] = value.split("-").map(Number);
  return new Date(year, month - 1, day, 0, 0, 0).toISOString();
}

/** The last second of a local calendar day, as an ISO instant. */
export function endOfDay(value) {
  const [year, month, day] = value.split("-").map(Number);
  return new Date(year, month - 1, day, 23, 59, 59).toISOString();
}

/**
 * The AudienceInput the filters make, with only the filters set; `problems` maps a
 * field to what is wrong with it. `ready` is false while no filter is set.
 */
export function buildAudience(filters) {
  const audience = {};
  const problems = {};
  if (filters.all) audience.all = true;
  if (filters.tier?.trim()) audience.tier = filters.tier.trim();
  if (filters.category?.trim()) audience.boughtCategory = filters.category.trim();
  if (filters.since) audience.boughtSince = startOfDay(filters.since);
  if (filters.ids) audience.participantIds = filters.ids;
  if (filters.segment?.trim()) {
    audience.segment = filters.segment.trim();
    const text = filters.segmentParams?.trim();
    if (text) {
      try {
        const params = JSON.parse(text);
        if (params === null || typeof params !== "object" || Array.isArray(params)) {
          problems["segment-params"] = "segment parameters must be a JSON object, e.g. {\"days\": 30}";
        } else {
          audience.segmentParams = params;
        }
      } catch (error) {
        problems["segment-params"] = `segment parameters are not JSON: ${error.message}`;
      }
    }
  } else if (filters.segmentParams?.trim()) {
    problems.segment = "name the segment these parameters are for";
  }
  return { audience, problems, ready: Object.keys(audience).length > 0 };
}

// Which form field a gateway message concerns: the first pattern that matches wins.
const FIELDS = [
  [/participantIds/, "csv"],
  [/boughtSince/, "since"],
  [/boughtCategory/, "category"],
  [/segmentParams/, "segment-params"],
  [/segment/i, "segment"],
  [/\btier\b/i, "tier"],
  [/expiresAt/, "expires"],
  [/validDays/, "valid-days"],
  [/startsAt/, "starts"],
  [/\bamount\b/i, "amount"],
  [/\bmessage\b/i, "message"],
  [/\bname\b/i, "name"],
  [/audience/i, "audience"],
  [/\bprogram\b/i, "program"],
];

/** The field a GatewayError concerns: "token" for refused tokens, null when none fits. */
export function fieldFor(error) {
  if (error.code === "UNAUTHENTICATED" || error.code === "FORBIDDEN") return "token";
  for (const [pattern, field] of FIELDS) {
    if (pattern.test(error.message)) return field;
  }
  return null;
}
