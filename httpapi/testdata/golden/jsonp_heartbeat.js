a.b_c$1({"status":200,"message":"OK","service":"Presence"})
