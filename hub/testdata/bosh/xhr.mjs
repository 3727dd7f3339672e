// xhr.mjs: the part of XMLHttpRequest that strophe.js's BOSH uses, over
// Node's fetch, installed as the global XMLHttpRequest. The answer is
// parsed into responseXML with the global DOMParser (strophe's Node build
// sets it up from @xmldom/xmldom), as a browser does for text/xml.

class FetchXMLHttpRequest {
  constructor() {
    this.readyState = 0;
    this.status = 0;
    this.responseText = "";
    this.responseXML = null;
    this.onreadystatechange = null;
    this.headers = {};
    this.controller = new AbortController();
  }

  overrideMimeType() {}

  open(method, url) {
    this.method = method;
    this.url = url;
    this.readyState = 1;
  }

  setRequestHeader(name, value) {
    this.headers[name] = value;
  }

  send(body) {
    fetch(this.url, { method: this.method, headers: this.headers, body, signal: this.controller.signal })
      .then(async (res) => {
        this.status = res.status;
        this.responseHeaders = res.headers;
        this.responseText = await res.text();
        try {
          this.responseXML = new globalThis.DOMParser().parseFromString(this.responseText, "text/xml");
        } catch {
          this.responseXML = null;
        }
      })
      .catch(() => {
        this.status = 0;
      })
      .finally(() => {
        this.readyState = 4;
        this.onreadystatechange?.();
      });
  }

  getResponseHeader(name) {
    return this.responseHeaders?.get(name) ?? null;
  }

  getAllResponseHeaders() {
    return [...(this.responseHeaders?.entries() ?? [])].map(([k, v]) => `${k}: ${v}\r\n`).join("");
  }

  abort() {
    this.controller.abort();
  }
}

globalThis.XMLHttpRequest = FetchXMLHttpRequest;
