cb({"status":400,"error":true,"message":"Invalid channel \"a b\": contains a space","service":"Presence"})
