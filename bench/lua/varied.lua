-- Every request different: a path with a counter and a query, a changing cookie and request
-- id, a referer, one of three browser user agents, Accept fields (~600 bytes, 8 fields).
local agents = {
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/items/" .. n .. "?page=" .. (n % 7) .. "&sort=name", {
    ["User-Agent"] = agents[n % 3 + 1],
    ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ["Accept-Language"] = "en-US,en;q=0.5",
    ["Accept-Encoding"] = "gzip, deflate, br",
    ["Referer"] = "http://127.0.0.1/items/" .. (n - 1),
    ["Cookie"] = string.format("session=%016x; theme=dark", n * 2654435761),
    ["X-Request-Id"] = string.format("%08x%08x", n, n * 7919),
  })
end
