// The server's JSON API. URLs are relative to the page (/t/<token>/), so every request carries
// the token in its path. A refused or failed request throws an Error whose `lines` are the
// server's messages (the CLI's own lines for a user error) and `problems` its located problems.

export async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch("api/" + path, options);
  const data = await response.json().catch(() => ({error: [`${response.status} ${response.statusText}`]}));
  if (!response.ok) {
    const error = new Error((data.error || []).join("\n") || response.statusText);
    error.lines = data.error || [];
    error.problems = data.problems || [];
    throw error;
  }
  return data;
}

export function query(params) {
  return new URLSearchParams(params).toString();
}
