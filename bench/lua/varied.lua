-- Every request different: a path with a counter and a query, a changing cookie and request
-- id, a referer, one of three browser user agents, Accept fields (~600 bytes, 8 fields with
-- Host). Used by the varied-get cells, and by keepalive-mix, whose generated script sets
-- close_every = N first: every Nth request then also says "Connection: close" (wrk opens a new
-- connection after the answer), so a connection carries N requests on average.
local agents = {
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
}
local every = close_every or 0
local n = 0
request = function()
  n = n + 1
  local headers = {
    ["User-Agent"] = agents[n % 3 + 1],
    ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ["Accept-Language"] = "en-US,en;q=0.9,de;q=0.8,fr;q=0.7",
    ["Accept-Encoding"] = "gzip, deflate, br, zstd",
    ["Referer"] = "http://127.0.0.1/items/" .. (n - 1) .. "?page=" .. ((n - 1) % 7) .. "&sort=name",
    ["Cookie"] = string.format(
      "session=%016x%08x; _ga=GA1.1.%d.1764547200; _gid=GA1.1.%d.1764547200; theme=dark; lang=en-US",
      n * 2654435761, n, n * 40503 % 1000000007, n * 69069 % 1000000007),
    ["X-Request-Id"] = string.format("%08x%08x", n, n * 7919),
  }
  if every > 0 and n % every == 0 then
    headers["Connection"] = "close"
  end
  return wrk.format("GET", "/items/" .. n .. "?page=" .. (n % 7) .. "&sort=name", headers)
end
