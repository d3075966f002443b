-- Static files with a skewed popularity, and conditional requests. The generated script sets
-- first: static_paths (URL paths), static_picks (a sequence of indexes into static_paths drawn
-- with the popularity of bench/harness/static_tree.py: many small files, a few large ones
-- rarely), static_small (1 for a small file) and static_lastmod (every file's Last-Modified).
-- Every fourth request for a small file carries If-Modified-Since with that date: a browser
-- revalidating its cache, answered 304. Cookie, request id and referer change every request.
local agents = {
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
}
local picks = #static_picks
local n = 0
request = function()
  n = n + 1
  local index = static_picks[n % picks + 1]
  local headers = {
    ["User-Agent"] = agents[n % 3 + 1],
    ["Accept"] = "*/*",
    ["Accept-Language"] = "en-US,en;q=0.5",
    ["Accept-Encoding"] = "gzip, deflate, br",
    ["Referer"] = "http://127.0.0.1/page/" .. (n % 50) .. ".html",
    ["Cookie"] = string.format("session=%016x; theme=dark", n * 2654435761),
    ["X-Request-Id"] = string.format("%08x%08x", n, n * 7919),
  }
  if static_small[index] == 1 and n % 4 == 0 then
    headers["If-Modified-Since"] = static_lastmod
  end
  return wrk.format("GET", static_paths[index], headers)
end
